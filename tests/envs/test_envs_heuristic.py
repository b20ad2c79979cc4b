"""The action space expresses FIFO: FIFO acting through env actions equals FIFO on the sim."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.baselines import FIFOPolicy
from pecgym.envs import ClusterSchedEnv, ClusterSchedVectorEnv
from pecgym.envs.core import SchedCore
from pecgym.sim.metrics import request_frame, summarize
from pecgym.sim.replay import replay
from pecgym.sim.simulator import ClusterSim
from pecgym.sim.state import Op

CASES = {
    "pecgym/ConvBusy-v1": {"num_requests": 48},
    # long inputs need sequence-parallel groups: the group placement matters
    "pecgym/LongMix-v1": {"num_requests": 48, "long_fraction": 0.1},
    "pecgym/CodeBursty-v1": {"num_requests": 48},
    "pecgym/LSMix-v1": {"num_requests": 48},
}


def fifo_actions(core: SchedCore, policy: FIFOPolicy) -> np.ndarray:
    """FIFO's decisions for the envs at a decision point, encoded as env actions."""
    sim = core.sim
    deciding = np.flatnonzero(sim.at_decision & ~sim.finished)
    if not deciding.size:
        return np.zeros(core.num_envs, dtype=np.int64)
    actions, encoded = core.encode(policy.decide(sim, deciding))
    assert encoded.all()
    return actions


def assert_same_summary(got: dict, expected: dict) -> None:
    """``got`` has every figure of ``expected``, equal (NaN equals NaN)."""
    for key, value in expected.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == value, key


def direct_fifo(config, workloads: list) -> ClusterSim:
    return replay(ClusterSim(config, workloads), FIFOPolicy().decide)


@pytest.mark.parametrize("env_id", sorted(CASES))
def test_fifo_through_actions_matches_fifo_on_the_simulator(env_id: str) -> None:
    seed = 3
    env = gym.make(env_id, workload=CASES[env_id])
    core = env.unwrapped.core
    config = core.cluster  # the direct run uses the env's own cluster and workload

    policy = FIFOPolicy()
    env.reset(seed=seed)
    starts = steps = 0
    while True:
        action = fifo_actions(core, policy)[0]
        _, _, terminated, truncated, info = env.step(action)
        steps += 1
        assert not info["invalid_action"], (steps, action, info["reject_reason"])
        starts += int(core.layout.split(action)[0] == 1)
        if terminated or truncated:
            break
    assert terminated and not truncated

    sim = direct_fifo(config, [core.config.workload.build(seed)])
    expected = request_frame(sim, 0)
    got = request_frame(core.sim, 0)
    assert (got["state"] == "done").all()
    assert starts == len(got)  # FIFO never preempts: one START per request
    if env_id == "pecgym/LongMix-v1":
        assert got["is_long"].any()  # the SP path was exercised
    pd.testing.assert_frame_equal(got, expected)

    assert_same_summary(info["episode_metrics"], summarize(sim, 0))
    assert info["episode_metrics"]["steps"] == steps


def test_fifo_through_the_vector_env_matches_fifo_on_the_simulator() -> None:
    workload = CASES["pecgym/ConvBusy-v1"]
    n, seed = 3, 10
    vec = gym.make_vec(
        "pecgym/ConvBusy-v1", num_envs=n, vectorization_mode="vector_entry_point", workload=workload
    )
    assert isinstance(vec, ClusterSchedVectorEnv)
    vec.reset(seed=seed)
    policy = FIFOPolicy()
    summaries: dict[int, dict] = {}
    for _ in range(5000):
        actions = fifo_actions(vec.core, policy)
        _, _, terminated, truncated, info = vec.step(actions)
        assert not info["invalid_action"].any()
        assert not truncated.any()
        for i in np.flatnonzero(terminated):
            if i not in summaries:
                batched = info["final_info"]["episode_metrics"]
                summaries[int(i)] = {
                    k: v[i].item() if isinstance(v[i], np.generic) else v[i]
                    for k, v in batched.items()
                    if not k.startswith("_")
                }
        if len(summaries) == n:
            break
    assert len(summaries) == n

    spec = vec.core.config.workload
    sim = direct_fifo(vec.core.cluster, [spec.build(seed + i) for i in range(n)])
    for i in range(n):
        assert summaries[i]["completed"] == workload["num_requests"]
        assert_same_summary(summaries[i], summarize(sim, i))


def test_encode_of_a_command_without_an_action_is_a_wait() -> None:
    env = ClusterSchedEnv(cluster={"num_instances": 4}, workload={"num_requests": 8})
    env.reset(seed=0)
    core = env.core
    commands = FIFOPolicy().decide(core.sim, np.array([0]))
    assert commands.op[0] == Op.START
    actions, encoded = core.encode(commands)
    assert encoded.all() and core.action_masks()[0, actions[0]]
    for field, value in (("req", 7), ("n", 2), ("decode_to", 1)):
        # not arrived yet (no row shows it); not the group size its KV needs; a decode
        # target other than the pool's choice
        changed = commands.select(np.array([0]))
        getattr(changed, field)[0] = value
        actions, encoded = core.encode(changed)
        assert actions.tolist() == [0] and encoded.tolist() == [False], field
