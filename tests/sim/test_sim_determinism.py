"""Determinism: same inputs give bit-identical results, and one env is the batch of one.

Every env of a batch sees the same arithmetic in the same order as it would alone, so a
batched run must reproduce single-env runs bit for bit (``check_exact=True``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pecgym.baselines import FIFOPolicy
from pecgym.sim.config import ClusterConfig
from pecgym.sim.metrics import request_frame, summarize
from pecgym.sim.replay import replay
from pecgym.sim.simulator import ClusterSim
from pecgym.traces.spec import WorkloadSpec

CONFIGS = {
    "events": ClusterConfig(num_instances=8),
    "ticks": ClusterConfig(num_instances=8, decision_interval=0.05),
    "tight-memory": ClusterConfig(num_instances=6, memory_utilization=0.3),
    "horizon": ClusterConfig(num_instances=4, horizon=30.0),
}
# (seed, number of requests): different lengths on purpose
EPISODES = [(0, 240), (1, 90), (2, 300), (3, 25)]


def spec(num_requests: int) -> WorkloadSpec:
    """Busy conversation traffic with a few long inputs (SP groups, head-of-line blocking)."""
    return WorkloadSpec(
        num_requests=num_requests, rate_scale=3.0, long_fraction=0.02, long_range=(60_000, 200_000)
    )


def tight_spec(num_requests: int) -> WorkloadSpec:
    return WorkloadSpec(num_requests=num_requests, rate_scale=3.0)


def workloads(config_name: str, episodes=EPISODES):
    make = tight_spec if config_name == "tight-memory" else spec
    return [make(n).build(seed) for seed, n in episodes]


def run(config: ClusterConfig, loads) -> ClusterSim:
    return replay(ClusterSim(config, loads), FIFOPolicy().decide)


def frames(sim: ClusterSim) -> list[pd.DataFrame]:
    return [request_frame(sim, env) for env in range(sim.num_envs)]


def test_same_inputs_give_identical_frames() -> None:
    config = CONFIGS["events"]
    first = run(config, [spec(300).build(7)])
    second = run(config, [spec(300).build(7)])
    pd.testing.assert_frame_equal(frames(first)[0], frames(second)[0], check_exact=True)
    assert summarize(first) == summarize(second)
    assert first.num_events[0] == second.num_events[0]
    np.testing.assert_array_equal(first.busy_time, second.busy_time)


def test_different_seeds_differ() -> None:
    config = CONFIGS["events"]
    a, b = (frames(run(config, [spec(300).build(seed)]))[0] for seed in (1, 2))
    assert not a["arrival"].equals(b["arrival"])
    assert not np.allclose(a["jct"].to_numpy(), b["jct"].to_numpy())


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_batch_equals_single_env_runs_bit_for_bit(config_name: str) -> None:
    config = CONFIGS[config_name]
    loads = workloads(config_name)
    batch = run(config, loads)
    assert batch.done
    for env, load in enumerate(loads):
        alone = run(config, [load])
        pd.testing.assert_frame_equal(
            request_frame(batch, env), request_frame(alone, 0), check_exact=True
        )
        assert batch.clock[env] == alone.clock[0]
        assert batch.num_events[env] == alone.num_events[0]
        assert batch.truncated[env] == alone.truncated[0]
        np.testing.assert_array_equal(batch.busy_time[env], alone.busy_time[0])
        np.testing.assert_array_equal(batch.idle_time[env], alone.idle_time[0])
    if config_name != "horizon":
        for env, (_, n) in enumerate(EPISODES):
            assert summarize(batch, env)["completed"] == n
    else:
        assert batch.truncated.any()


def test_reloading_one_env_matches_a_fresh_run() -> None:
    """``load`` resets an env completely, also when the new workload is longer (the arrays
    grow) and while the other envs keep their finished state."""
    config = CONFIGS["events"]
    first = workloads("events", [(10, 120), (11, 60)])
    sim = run(config, first)
    kept = request_frame(sim, 1)
    longer = spec(400).build(12)
    sim.load(0, longer)
    assert not sim.finished[0] and sim.finished[1]
    replay(sim, FIFOPolicy().decide)
    fresh = run(config, [longer])
    pd.testing.assert_frame_equal(request_frame(sim, 0), request_frame(fresh, 0), check_exact=True)
    pd.testing.assert_frame_equal(request_frame(sim, 1), kept, check_exact=True)
    np.testing.assert_array_equal(sim.busy_time[0], fresh.busy_time[0])
