"""Observation rows: each view's choice against a plain loop, shared row state, stale masks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import busy_core as make_busy_core

from pecgym.envs.config import QUEUE_VIEWS
from pecgym.envs.core import SchedCore
from pecgym.envs.sampling import sample_masked_actions
from pecgym.sim.state import DECODING, PREEMPTED, PREFILLING, SWAP

VIEWS = tuple(QUEUE_VIEWS)
WORKLOAD = {"num_requests": 96, "long_fraction": 0.2, "ls_fraction": 0.5, "rate_scale": 4.0}


@pytest.fixture(scope="module")
def busy_core() -> SchedCore:
    """8 envs after 200 random masked steps, observing through every queue view."""
    view = {"queue_views": VIEWS, "view_size": 4, "running_window": 12}
    return make_busy_core(8, 200, wait=0.5, workload=WORKLOAD, observation=view)


def expected_view(sim, env: int, view: str, size: int) -> list[int]:
    """The requests a queue view shows, by a loop over requests."""
    queued = [int(r) for r in np.flatnonzero(sim.queued()[env])]
    keep = {
        "oldest": lambda r: True,
        "shortest": lambda r: True,
        "latency_sensitive": lambda r: bool(sim.latency_sensitive[env, r]),
        "preempted": lambda r: sim.state[env, r] == PREEMPTED,
        "short": lambda r: not sim.is_long[env, r],
        "long": lambda r: bool(sim.is_long[env, r]),
    }[view]
    chosen = [r for r in queued if keep(r)]
    if view == "shortest":
        chosen.sort(key=lambda r: (sim.prefill_len[env, r], r))
    return chosen[:size]


def expected_running(sim, env: int, size: int) -> list[int]:
    def rank(r: int) -> int:
        if sim.state[env, r] == PREFILLING:
            return 0
        return 1 if sim.is_long[env, r] else 2

    live = [int(r) for r in np.flatnonzero(np.isin(sim.state[env], (PREFILLING, DECODING)))]
    return sorted(live, key=lambda r: (rank(r), r))[:size]


def test_every_view_shows_what_a_loop_chooses(busy_core: SchedCore) -> None:
    core, sim = busy_core, busy_core.sim
    size = core.config.observation.view_size
    slots = core.slots()
    assert (sim.state == PREEMPTED).any() and sim.is_long.any()  # the views have work
    for env in range(core.num_envs):
        for k, view in enumerate(VIEWS):
            row = slots[env, k * size : (k + 1) * size]
            assert row[row >= 0].tolist() == expected_view(sim, env, view, size), (env, view)
            assert (row[(row >= 0).sum() :] == -1).all()
        running = slots[env, core.layout.queue_rows :]
        shown = running[running >= 0].tolist()
        assert shown == expected_running(sim, env, core.layout.running_rows), env


def test_row_start_requirements_are_those_of_the_request_shown(busy_core: SchedCore) -> None:
    core, sim = busy_core, busy_core.sim
    rows = core.row_view
    need, k, fixed = rows.start_requirements(sim)
    env, col = np.nonzero(rows.present)
    # the rows include requests kept on GPU and decodes swapped to host
    assert rows.kept[env, col].any()
    assert (sim.resume_decode[env, rows.slots[env, col]] & (rows.mode[env, col] == SWAP)).any()
    assert env.size
    ref_need, ref_k, ref_fixed = sim.start_requirements(env, rows.slots[env, col])
    np.testing.assert_array_equal(need[env, col], ref_need)
    np.testing.assert_array_equal(k[env, col], ref_k)
    np.testing.assert_array_equal(fixed[env, col], ref_fixed)


def test_rows_and_masks_after_a_step_describe_the_state_after_it() -> None:
    core = SchedCore(2, {"workload": {"num_requests": 24, "rate_scale": 4.0}})
    core.reset_envs(range(2), [1, 2])
    layout = core.layout
    rng = np.random.default_rng(0)
    keep_running = layout.preempt(np.arange(layout.running_rows), 0)
    while not core.action_masks()[0, keep_running].any():  # env 0 shows a running request
        core.step(sample_masked_actions(core.action_masks(), rng))
    row = int(np.flatnonzero(core.action_masks()[0, keep_running])[0])
    req = core.slots()[0, layout.queue_rows + row]
    result = core.step(np.array([keep_running[row], 0]))
    assert not result.invalid[0] and core.sim.state[0, req] == PREEMPTED
    assert core.sim.clock[0] == core.sim.acted_at[0, req]  # same instant: a decision point
    slots = core.slots()[0]
    assert req not in slots[layout.queue_rows :]  # no longer among the running rows
    shown = np.flatnonzero(slots[: layout.queue_rows] == req)
    assert shown.size  # now queued, on view ...
    starts = layout.start(shown[:, None, None], np.arange(layout.placements)[:, None], [0, 1])
    assert not core.action_masks()[0, starts.ravel()].any()  # ... but not again this instant
