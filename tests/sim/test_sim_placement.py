"""Placement helpers and per-instance views on a busy batched simulator."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import busy_core

from pecgym.sim.placement import best_group
from pecgym.sim.state import DECODING, KEEP, PREEMPTED


@pytest.fixture(scope="module")
def busy_sim():
    """A batch of 8 envs after 150 random masked steps (SP groups, pauses, swaps)."""
    return busy_core(8, 150).sim


def test_start_requirements_of_kept_and_other_requests(busy_sim) -> None:
    """A request paused with its KV kept must resume on its own group and places nothing;
    any other places what it must load over the SP degree its KV needs."""
    sim = busy_sim
    env, req = np.nonzero(sim.queued())
    need, k, fixed = sim.start_requirements(env, req)
    kept = (sim.state[env, req] == PREEMPTED) & (sim.preempt_mode[env, req] == KEEP)
    assert kept.any() and (~kept).any()
    np.testing.assert_array_equal(fixed[kept], sim.group_lo[env, req][kept])
    np.testing.assert_array_equal(k[kept], sim.group_n[env, req][kept])
    assert (need[kept] == 0).all()
    assert (fixed[~kept] == -1).all()
    np.testing.assert_array_equal(k[~kept], sim.sp_degree_for(sim.prefill_len[env, req])[~kept])
    np.testing.assert_array_equal(need[~kept], sim.kv_to_load(env, req)[~kept])


def test_best_group_is_the_least_loaded_feasible_group(busy_sim) -> None:
    sim = busy_sim
    queued = sim.queued()
    env, req = np.nonzero(queued)
    assert env.size
    lo, n = best_group(sim, env, req)
    need, k, fixed = sim.start_requirements(env, req)
    slot = sim.needs_prefill_slot(env, req)
    free, used = sim.kv_free(), sim.kv_used()
    for j in range(env.size):
        e = env[j]
        options = []
        for g in range(sim.num_instances - k[j] + 1):
            members = range(g, g + k[j])
            room = all(free[e, i] >= need[j] / k[j] - 1e-9 for i in members)
            idle = all(sim.prefill_req[e, i] < 0 for i in members) or not slot[j]
            if room and idle and (fixed[j] < 0 or g == fixed[j]):
                options.append((sum(used[e, i] for i in members), g))
        want = min(options)[1] if options else -1
        assert lo[j] == want and n[j] == k[j]


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
