"""The compiled event clock (numba) gives the NumPy path's results bit for bit.

Every state array is compared after whole episodes that exercise each kind of event:
arrivals, prefill and decode completions, SP groups, KV transfers to a decode pool, memory
evictions, swaps, decision ticks, the decision gap and truncation at a horizon.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pecgym import baselines
from pecgym.baselines import FIFOPolicy
from pecgym.benchmark.rollout import rollout
from pecgym.envs.scenarios import resolve_config
from pecgym.sim import clock
from pecgym.sim.cluster_state import KERNEL_VARIABLE, choose_kernel
from pecgym.sim.config import ClusterConfig, ConfigError
from pecgym.sim.fields import FIELDS
from pecgym.sim.replay import replay
from pecgym.sim.simulator import ClusterSim
from pecgym.traces.spec import WorkloadSpec

pytest.importorskip("numba")

CONFIGS = {
    "events": ClusterConfig(num_instances=8),
    "ticks": ClusterConfig(num_instances=8, decision_interval=0.05),
    "tight-memory": ClusterConfig(num_instances=2, memory_utilization=0.25),
    "horizon-and-gap": ClusterConfig(num_instances=4, horizon=30.0, max_decision_gap=0.5),
}


def workloads(config_name: str) -> list:
    if config_name == "tight-memory":
        spec = WorkloadSpec(num_requests=200, rate_scale=6.0)
    else:
        spec = WorkloadSpec(
            num_requests=200, rate_scale=3.0, long_fraction=0.03, long_range=(60_000, 200_000)
        )
    return [spec.build(seed) for seed in (0, 1)]


def assert_same_state(a: ClusterSim, b: ClusterSim) -> None:
    for field in FIELDS:
        np.testing.assert_array_equal(
            getattr(a, field.name), getattr(b, field.name), err_msg=field.name, strict=True
        )


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_compiled_clock_matches_numpy_bit_for_bit(config_name: str) -> None:
    config, loads = CONFIGS[config_name], workloads(config_name)
    numpy_run = replay(ClusterSim(config, loads, kernel="numpy"), FIFOPolicy().decide)
    numba_run = replay(ClusterSim(config, loads, kernel="numba"), FIFOPolicy().decide)
    assert numba_run.kernel == "numba" and numpy_run.kernel == "numpy"
    assert_same_state(numpy_run, numba_run)
    if config_name == "tight-memory":
        assert numba_run.evictions.sum() > 0  # the eviction path ran
    if config_name == "horizon-and-gap":
        assert numba_run.truncated.all()


def test_auto_kernel_switches_mid_episode_without_a_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``auto`` starts in NumPy and compiles once enough events ran; the switch leaves no
    mark on the results."""
    monkeypatch.setattr(clock, "COMPILE_AFTER_EVENTS", 100)
    config, loads = CONFIGS["events"], workloads("events")
    numpy_run = replay(ClusterSim(config, loads, kernel="numpy"), FIFOPolicy().decide)
    auto = ClusterSim(config, loads, kernel="auto")
    assert auto.kernel == "auto" and not auto._compiled()
    replay(auto, FIFOPolicy().decide)
    assert auto.events_run > 100 and auto._compiled()
    assert_same_state(numpy_run, auto)


@pytest.mark.parametrize(
    ("scenario", "policy"),
    [("LongMix-v1", "pecsched"), ("ConvBusy-v1", "qllm"), ("LSMix-v1", "random")],
)
def test_compiled_clock_matches_numpy_through_the_env(
    scenario: str, policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole episodes through the env's actions: preemptions, swaps, KV moves to the decode
    pool (PecSched) and random commands of every kind give identical records."""
    config = resolve_config(scenario, None, {"workload": {"num_requests": 96}})
    runs = {}
    for kernel in ("numpy", "numba"):
        monkeypatch.setenv(KERNEL_VARIABLE, kernel)
        runs[kernel] = rollout(
            baselines.get(policy), config, [5, 6], max_steps=2500, keep_requests=True
        )
    episodes = [pd.DataFrame(runs[k].episodes).drop(columns="wall_time_s") for k in runs]
    pd.testing.assert_frame_equal(*episodes, check_exact=True)
    for numpy_frame, numba_frame in zip(*(runs[k].requests for k in runs), strict=True):
        pd.testing.assert_frame_equal(numpy_frame, numba_frame, check_exact=True)
    moves = pd.concat(runs["numba"].requests)[["migrations", "decode_preemptions"]].sum()
    if policy != "qllm":  # the paths that move KV between instances and to host ran
        assert moves["migrations"] > 0
    if policy == "random":
        assert moves["decode_preemptions"] > 0


def test_kernel_choice_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_kernel("numpy") == "numpy"
    assert choose_kernel("auto") == "auto"  # numba is installed: switch to it when it pays
    monkeypatch.setenv(KERNEL_VARIABLE, "numpy")
    assert choose_kernel("auto") == "numpy"
    monkeypatch.setenv(KERNEL_VARIABLE, "numba")
    assert choose_kernel("auto") == "numba"
    with pytest.raises(ConfigError, match="kernel must be one of"):
        choose_kernel("cuda")
    monkeypatch.setenv(KERNEL_VARIABLE, "fast")
    with pytest.raises(ConfigError, match=KERNEL_VARIABLE):
        choose_kernel("auto")
