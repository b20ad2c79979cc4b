"""Placement helpers and per-instance views on a busy batched simulator."""

from __future__ import annotations

import numpy as np
import pytest

from pecgym.envs.core import SchedCore
from pecgym.envs.sampling import sample_masked_actions
from pecgym.sim.placement import (
    choose_starts,
    feasible_starts,
    least_loaded_start,
    start_requirements,
)
from pecgym.sim.state import DECODING, KEEP, PREEMPTED


@pytest.fixture(scope="module")
def busy_sim():
    """A batch of 8 envs after 150 random masked steps (SP groups, pauses, swaps)."""
    core = SchedCore(8, workload={"num_requests": 96, "long_fraction": 0.1})
    core.reset_envs(range(8), range(8))
    rng = np.random.default_rng(0)
    nvec = core.layout.action_nvec
    for _ in range(150):
        core.step(sample_masked_actions(core.action_masks(), nvec, rng))
        core.observe()
    return core.sim


def queued_heads(sim):
    queued = sim.queued()
    env = np.flatnonzero(queued.any(axis=1))
    return env, queued[env].argmax(axis=1)


def test_choose_starts_is_idle_first_then_any_group(busy_sim) -> None:
    sim = busy_sim
    env, req = queued_heads(sim)
    assert env.size
    need, k, _ = start_requirements(sim, env, req)
    idle = least_loaded_start(sim, env, feasible_starts(sim, env, need, k), k)
    anywhere = least_loaded_start(sim, env, feasible_starts(sim, env, need, k, allow_busy=True), k)
    for preempt in (np.zeros(env.size, bool), np.ones(env.size, bool)):
        expected = np.where(idle >= 0, idle, np.where(preempt, anywhere, -1))
        assert np.array_equal(choose_starts(sim, env, need, k, preempt), expected)


def test_instance_load_matches_a_loop_over_requests(busy_sim) -> None:
    sim = busy_sim
    batch, context, held = sim.instance_load()
    want = np.zeros((3, sim.num_envs, sim.num_instances))
    for e in range(sim.num_envs):
        for r in range(int(sim.num_requests[e])):
            lo, n = sim.group_lo[e, r], sim.group_n[e, r]
            share = sim.kv_tokens[e, r] / n if n else 0.0
            if sim.state[e, r] == DECODING:
                want[0, e, lo : lo + n] += 1
                want[1, e, lo : lo + n] += share
            elif sim.state[e, r] == PREEMPTED and sim.preempt_mode[e, r] == KEEP:
                want[2, e, lo : lo + n] += share
    assert want[0].any() and want[2].any()  # decodes and paused requests both present
    assert np.array_equal(batch, want[0])
    np.testing.assert_allclose(context, want[1], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(held, want[2], rtol=1e-12, atol=1e-9)


def test_kv_views_are_read_only_and_track_the_exact_usage(busy_sim) -> None:
    sim = busy_sim
    used, free = sim.kv_used(), sim.kv_free()
    with pytest.raises(ValueError):
        used[0, 0] = 1.0
    with pytest.raises(ValueError):
        free[0, 0] = 1.0
    np.testing.assert_allclose(used, sim.kv_used_exact(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(free, np.maximum(sim.kv_capacity - used, 0.0))
