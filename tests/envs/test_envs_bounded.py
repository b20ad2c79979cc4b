"""Bounded decision epochs: whatever the policy, simulated time keeps moving and every episode
ends by itself within :func:`episode_step_bound`; not serving never pays.

Adversarial policies (each on every registered env id, with seeds and sizes drawn by
hypothesis): always repeat the last valid action, always the first valid one (after WAIT),
always the last valid one, always wait, preempt or migrate whenever allowed, masked random.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.envs.actions import ActionLayout
from pecgym.envs.core import step_bound
from pecgym.envs.scenarios import SCENARIOS

ENV_IDS = sorted(spec.env_id for spec in SCENARIOS.values())
Policy = Callable[[np.ndarray, dict], int]


def _valid(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask)


def always_wait(mask: np.ndarray, memo: dict) -> int:
    return 0


def first_valid(mask: np.ndarray, memo: dict) -> int:
    options = _valid(mask[1:]) + 1
    return int(options[0]) if options.size else 0


def last_valid(mask: np.ndarray, memo: dict) -> int:
    return int(_valid(mask)[-1])


def repeat_last(mask: np.ndarray, memo: dict) -> int:
    """The same index as the last valid one taken, valid now or not (then it waits)."""
    if "last" not in memo:
        memo["last"] = int(memo["rng"].choice(_valid(mask)))
    return memo["last"]


def preempt_or_migrate(mask: np.ndarray, memo: dict) -> int:
    layout: ActionLayout = memo["layout"]
    options = _valid(mask[layout.preempt_offset :]) + layout.preempt_offset
    if options.size:
        return int(memo["rng"].choice(options))
    return first_valid(mask, memo)


def masked_random(mask: np.ndarray, memo: dict) -> int:
    return int(memo["rng"].choice(_valid(mask)))


POLICIES: dict[str, Policy] = {
    "repeat_last": repeat_last,
    "first_valid": first_valid,
    "last_valid": last_valid,
    "always_wait": always_wait,
    "preempt_or_migrate": preempt_or_migrate,
    "masked_random": masked_random,
}


def play(env_id: str, policy: Policy, seed: int, num_requests: int) -> dict:
    """One episode; checks every step's clock and instant, returns what the episode did."""
    env = gym.make(env_id, workload={"num_requests": num_requests})
    core = env.unwrapped.core
    _, info = env.reset(seed=seed)
    sim = core.sim
    memo = {"rng": np.random.default_rng(seed), "layout": core.layout}
    steps = total = invalid = 0
    instant_steps, instant_live = 0, None
    clock = info["sim_time"]
    while True:
        if instant_live is None:  # the first step at this instant
            instant_live = int(((sim.state[0] != 0) & (sim.state[0] != 5)).sum())
        action = policy(info["action_mask"], memo)
        if policy is repeat_last and info["action_mask"][action]:
            memo["last"] = action
        _, reward, terminated, truncated, info = env.step(action)
        steps += 1
        total += reward
        invalid += info["invalid_action"]
        instant_steps += 1
        assert info["sim_time"] >= clock, "simulated time went back"
        if info["sim_time"] > clock:
            instant_steps, instant_live = 0, None
        else:  # each request is commanded at most once per instant, then a WAIT
            assert instant_steps <= instant_live + 1, (instant_steps, instant_live)
        clock = info["sim_time"]
        bound = step_bound(core, 0)
        assert steps <= bound, f"{steps} steps, bound {bound}"
        if terminated or truncated:
            break
    metrics = info["episode_metrics"]
    last_arrival = float(sim.arrival[0, :num_requests].max())
    assert clock >= last_arrival  # time reached the last arrival
    assert terminated != truncated
    if truncated:
        assert metrics["unfinished"] > 0
        assert clock == pytest.approx(last_arrival + core.config.cluster.drain_time)
    penalty = core.config.reward.invalid_penalty
    assert total == pytest.approx(-metrics["objective"] - penalty * invalid, rel=1e-4, abs=1e-4)
    return {"return": total, "steps": steps, "unfinished": metrics["unfinished"]}


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), num_requests=st.integers(4, 14))
def test_every_episode_ends_within_the_bound_and_not_serving_never_pays(
    env_id: str, name: str, seed: int, num_requests: int
) -> None:
    result = play(env_id, POLICIES[name], seed, num_requests)
    if result["unfinished"]:
        random = play(env_id, masked_random, seed, num_requests)
        assert result["return"] < random["return"], (result, random)


def test_an_idle_policy_is_charged_more_than_fifo() -> None:
    """The frozen agent of v0 looked better than FIFO; censored metrics and the unfinished
    penalty now rank it last."""
    from pecgym.benchmark import Scenario, evaluate

    class Idle:
        name = "idle"

        def act(self, obs, masks, core):
            return np.zeros(len(masks), dtype=np.int64)

    scenario = Scenario.from_env_id("pecgym/ConvBusy-v1", {"workload": {"num_requests": 64}})
    frame = evaluate([Idle(), "fifo"], scenario, [1, 2], progress=False)
    idle, fifo = (frame[frame["policy"] == p].reset_index(drop=True) for p in ("idle", "fifo"))
    assert (idle["completed"] == 0).all() and idle["truncated"].all()
    assert (idle["unfinished"] == 64).all()
    assert (idle["queueing_delay.short.p99"] > fifo["queueing_delay.short.p99"]).all()
    assert (idle["objective"] > 1000).all() and (fifo["objective"] < 100).all()
    assert (idle["return"] < fifo["return"]).all()
