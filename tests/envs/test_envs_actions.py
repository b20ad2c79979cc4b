"""The action codec: masks are exact (they allow exactly what the simulator carries out),
masked samplers never pick an invalid action, and the index layout round-trips."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from conftest import busy_core

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.envs.actions import KINDS, ActionLayout, decode
from pecgym.envs.sampling import sample_masked_actions
from pecgym.sim.cluster_state import KERNEL_VARIABLE
from pecgym.sim.state import Op, Reject

CASES = {
    # short requests, 4 instances: starts, pauses and migrations
    "conv": {
        "cluster": {"num_instances": 4},
        "workload": {"num_requests": 64, "rate_scale": 6.0},
    },
    # long inputs on SP groups of 2-8 of 16 instances: group placement, paused SP prefills
    "long": {
        "cluster": {"num_instances": 16},
        "workload": {"num_requests": 96, "rate_scale": 4.0, "long_fraction": 0.1},
    },
    # tight memory (about 4K tokens per instance): evictions, migrations that do not fit,
    # budgets that run out
    "tight": {
        "cluster": {"num_instances": 4, "memory_utilization": 0.22, "move_budget": 1},
        "workload": {"num_requests": 48, "rate_scale": 8.0},
    },
}


def reference_masks(core) -> np.ndarray:
    """Per env and action: does the simulator accept the command the action decodes to?
    (every candidate checked against the current state with :meth:`ClusterSim.check`)"""
    sim, layout = core.sim, core.layout
    n = core.num_envs
    out = np.zeros((n, layout.size), dtype=bool)
    out[:, 0] = True
    for action in range(1, layout.size):
        commands = decode(sim, core.row_view, layout, np.full(n, action))
        reasons = sim.check(commands)
        out[:, action] = (commands.op != Op.NOOP) & (reasons == Reject.OK)
    return out


@pytest.mark.parametrize("kernel", ["numpy", "numba"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("steps", [60, 250])
def test_masks_equal_the_simulators_checks_on_every_action(
    case: str, steps: int, kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The masks (NumPy) against every action decoded and checked by the simulator, with
    the codec and the checks in NumPy and compiled."""
    monkeypatch.setenv(KERNEL_VARIABLE, kernel)
    core = busy_core(6, steps, seed=steps, wait=0.5, **CASES[case])
    assert core.sim.runs_compiled() == (kernel == "numba")
    masks = core.action_masks()
    reference = reference_masks(core)
    wrong = np.argwhere(masks != reference)
    assert not wrong.size, [
        (int(e), core.layout.describe(int(a)), bool(masks[e, a])) for e, a in wrong[:5]
    ]
    kinds = core.layout.split(np.flatnonzero(masks.any(axis=0)))[0]
    assert {1, 2} <= set(kinds.tolist())  # starts and pauses were both on offer


@pytest.mark.parametrize("case", sorted(CASES))
def test_masked_random_actions_are_always_carried_out(case: str) -> None:
    core = busy_core(4, 0, **CASES[case])
    rng = np.random.default_rng(1)
    taken = np.zeros(len(KINDS), dtype=int)
    for _ in range(400):
        actions = sample_masked_actions(core.action_masks(), rng)
        result = core.step(np.where(rng.random(4) < 0.3, 0, actions))
        assert not result.invalid.any() and (result.reject == Reject.OK).all()
        np.add.at(taken, core.layout.split(actions)[0], 1)
    assert (taken[1:] > 0).all(), taken  # START, PREEMPT and MIGRATE all happened


def test_gymnasium_masked_sample_is_always_valid() -> None:
    env = gym.make("pecgym/ConvBusy-v1", workload={"num_requests": 32})
    env.action_space.seed(0)
    _, info = env.reset(seed=0)
    for _ in range(500):
        action = env.action_space.sample(mask=info["action_mask"].astype(np.int8))
        _, _, terminated, truncated, info = env.step(action)
        assert not info["invalid_action"]
        if terminated or truncated:
            _, info = env.reset()


def test_index_layout_round_trips() -> None:
    layout = ActionLayout(num_instances=5, queue_rows=7, running_rows=3)
    assert layout.size == 1 + 7 * 6 * 2 + 3 * 3 + 3 * 5
    seen = set()
    for q in range(7):
        for p in range(6):
            for d in range(2):
                index = int(layout.start(q, p, d))
                assert tuple(int(x) for x in layout.split(index)) == (1, q, p, d)
                seen.add(index)
    for r in range(3):
        for m in range(3):
            index = int(layout.preempt(r, m))
            assert tuple(int(x) for x in layout.split(index)) == (2, r, m, 0)
            seen.add(index)
        for t in range(5):
            index = int(layout.migrate(r, t))
            assert tuple(int(x) for x in layout.split(index)) == (3, r, t, 0)
            seen.add(index)
    assert seen == set(range(1, layout.size))  # every index but WAIT, once
    assert layout.describe(0) == "wait"
    assert layout.describe(int(layout.start(2, 0, 1))) == "start q2 auto disaggregated"
    assert layout.describe(int(layout.migrate(1, 4))) == "migrate r1 -> 4"
    with pytest.raises(ValueError, match="out of range"):
        layout.describe(layout.size)
