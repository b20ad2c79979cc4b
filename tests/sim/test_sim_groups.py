"""Group operations against plain loops: per-instance sums, membership, windows."""

from __future__ import annotations

import numpy as np
import pytest

from pecgym.sim.groups import (
    GroupIndex,
    group_max,
    group_members,
    group_sum,
    window_all,
    window_sum,
)

NUM_ENVS, NUM_INSTANCES = 3, 6


def random_groups(rng: np.random.Generator, items: int):
    env = np.sort(rng.integers(0, NUM_ENVS, items))
    n = rng.integers(1, NUM_INSTANCES + 1, items)
    lo = rng.integers(0, NUM_INSTANCES - n + 1)
    return env, lo, n


def loop_sum(env, lo, n, weights) -> np.ndarray:
    out = np.zeros((NUM_ENVS, NUM_INSTANCES))
    for e, first, size, w in zip(env, lo, n, np.broadcast_to(weights, env.shape), strict=True):
        out[e, first : first + size] += w
    return out


@pytest.mark.parametrize("seed", range(5))
def test_group_sum_adds_each_weight_to_its_instances_in_item_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    env, lo, n = random_groups(rng, 12)
    weights = rng.random(12) * 1e4
    # bit for bit: the same additions in the same order as the loop
    assert np.array_equal(
        group_sum(env, lo, n, weights, NUM_ENVS, NUM_INSTANCES), loop_sum(env, lo, n, weights)
    )
    index = GroupIndex(env, lo, n, NUM_ENVS, NUM_INSTANCES)
    counts, totals = index.sums(1.0, weights)
    assert np.array_equal(counts, loop_sum(env, lo, n, 1.0))
    assert np.array_equal(totals, loop_sum(env, lo, n, weights))


def test_group_sum_cancels_exactly() -> None:
    env, lo, n = np.array([0, 0]), np.array([1, 2]), np.array([1, 1])
    once = group_sum(env, lo, n, np.array([0.1, 0.7]), NUM_ENVS, NUM_INSTANCES)
    back = group_sum(env, lo, n, np.array([-0.1, -0.7]), NUM_ENVS, NUM_INSTANCES)
    assert np.array_equal(once + back, np.zeros((NUM_ENVS, NUM_INSTANCES)))


def test_group_sum_of_nothing_is_zero() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert not group_sum(empty, empty, empty, 1.0, NUM_ENVS, NUM_INSTANCES).any()


def test_group_members_and_max_match_loops() -> None:
    rng = np.random.default_rng(7)
    env, lo, n = random_groups(rng, 20)
    members = group_members(lo, n, NUM_INSTANCES)
    for row, (first, size) in enumerate(zip(lo, n, strict=True)):
        assert members[row].tolist() == [first <= i < first + size for i in range(NUM_INSTANCES)]
    values = rng.random((NUM_ENVS, NUM_INSTANCES))
    expected = [values[e, f : f + s].max() for e, f, s in zip(env, lo, n, strict=True)]
    assert np.array_equal(group_max(values, env, lo, n), expected)


def test_windows_match_loops() -> None:
    rng = np.random.default_rng(3)
    flags = rng.random((NUM_ENVS, NUM_INSTANCES)) < 0.7
    values = rng.random((NUM_ENVS, NUM_INSTANCES))
    k = np.array([1, 3, NUM_INSTANCES])
    fits, sums = window_all(flags, k), window_sum(values, k)
    for e in range(NUM_ENVS):
        for first in range(NUM_INSTANCES):
            inside = first + k[e] <= NUM_INSTANCES
            assert fits[e, first] == (inside and flags[e, first : first + k[e]].all())
            assert sums[e, first] == pytest.approx(values[e, first : first + k[e]].sum())
