"""Observation rows: each view's choice against a plain loop, shared row state, stale masks."""

from __future__ import annotations

import numpy as np
import pytest

from pecgym.envs.core import SchedCore
from pecgym.envs.layout import QUEUE_VIEWS
from pecgym.envs.sampling import sample_masked_actions
from pecgym.sim.placement import start_requirements
from pecgym.sim.state import DECODING, PREEMPTED, PREFILLING, SWAP, Op

VIEWS = tuple(QUEUE_VIEWS)
WORKLOAD = {"num_requests": 96, "long_fraction": 0.2, "ls_fraction": 0.5}


@pytest.fixture(scope="module")
def busy_core() -> SchedCore:
    """8 envs after 120 random masked steps, observing through every queue view."""
    core = SchedCore(8, workload=WORKLOAD, queue_views=VIEWS, view_size=4, running_window=12)
    core.reset_envs(range(8), range(8))
    rng = np.random.default_rng(0)
    core.observe()
    for _ in range(120):
        core.step(sample_masked_actions(core.action_masks(), core.layout.action_nvec, rng))
        core.observe()
    return core


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
    size = core.layout.view_size
    slots = core.slots()
    assert (sim.state == PREEMPTED).any() and sim.is_long.any()  # the views have work
    for env in range(core.num_envs):
        for k, view in enumerate(VIEWS):
            row = slots[env, k * size : (k + 1) * size]
            assert row[row >= 0].tolist() == expected_view(sim, env, view, size), (env, view)
            assert (row[(row >= 0).sum() :] == -1).all()
        running = slots[env, core.layout.queue_window :]
        shown = running[running >= 0].tolist()
        assert shown == expected_running(sim, env, core.layout.running_window), env


def test_row_start_requirements_match_the_placement_helper(busy_core: SchedCore) -> None:
    core, sim = busy_core, busy_core.sim
    rows = core._rows
    assert rows is not None
    need, k, fixed = rows.start_requirements(sim)
    env, col = np.nonzero(rows.present)
    # the rows include requests kept on GPU and decodes swapped to host
    assert rows.kept[env, col].any()
    assert (sim.resume_decode[env, rows.slots[env, col]] & (rows.mode[env, col] == SWAP)).any()
    assert env.size
    ref_need, ref_k, ref_fixed = start_requirements(sim, env, rows.slots[env, col])
    np.testing.assert_array_equal(need[env, col], ref_need)
    np.testing.assert_array_equal(k[env, col], ref_k)
    np.testing.assert_array_equal(fixed[env, col], ref_fixed)


def test_masks_after_a_step_without_observe_use_the_current_state() -> None:
    core = SchedCore(2, workload={"num_requests": 24})
    core.reset_envs(range(2), [1, 2])
    nvec = core.layout.action_nvec
    queue = core.layout.queue_window

    def slot_masks() -> np.ndarray:
        return core.action_masks()[:, nvec[0] : nvec[0] + nvec[1]]

    rng = np.random.default_rng(0)
    core.observe()
    while not slot_masks()[0, queue:].any():  # until env 0 shows a running request
        core.step(sample_masked_actions(core.action_masks(), nvec, rng))
        core.observe()
    slot = queue + int(np.flatnonzero(slot_masks()[0, queue:])[0])
    actions = np.zeros((2, 6), dtype=np.int64)
    actions[0, :2] = (Op.PREEMPT, slot)
    _, _, _, invalid, _ = core.step(actions)
    assert not invalid[0]
    # no observe(): the row still shows the request, which is no longer running
    assert core.sim.state[0, core.slots()[0, slot]] == PREEMPTED
    assert not slot_masks()[0, slot]
