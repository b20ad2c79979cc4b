"""The compiled simulator (numba: event clock, START commands, row choice) gives the NumPy
path's results bit for bit.

Every state array is compared after whole episodes that exercise each kind of event:
arrivals, prefill and decode completions, SP groups, KV transfers to a decode pool, memory
evictions, swaps, decision ticks, the decision gap and truncation at a horizon; and whole env
episodes compare every record and every row the observation shows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pecgym import baselines
from pecgym.baselines import FIFOPolicy
from pecgym.baselines.common import HEURISTIC_ENV
from pecgym.benchmark.rollout import rollout
from pecgym.envs.core import SchedCore
from pecgym.envs.scenarios import resolve_config
from pecgym.sim import cluster_state
from pecgym.sim.cluster_state import KERNEL_VARIABLE, choose_kernel
from pecgym.sim.config import ClusterConfig, ConfigError
from pecgym.sim.costmodel import libm_pow
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
    """``auto`` starts in NumPy and compiles once enough events ran (here more than the 800
    its two 200-request workloads promise); the switch leaves no mark on the results."""
    monkeypatch.setattr(cluster_state, "COMPILE_AFTER_EVENTS", 1000)
    config, loads = CONFIGS["events"], workloads("events")
    numpy_run = replay(ClusterSim(config, loads, kernel="numpy"), FIFOPolicy().decide)
    auto = ClusterSim(config, loads, kernel="auto")
    assert auto.kernel == "auto" and not auto.runs_compiled()
    replay(auto, FIFOPolicy().decide)
    assert auto.events_run > 1000 and auto.runs_compiled()
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


def test_compiled_iteration_times_match_the_cost_model() -> None:
    """The compiled iteration time (tables plus decode attention) equals ``step_time``, and
    powers are the C library's in both (NumPy's own differs in the last bit on AVX-512)."""
    from pecgym.sim import kernel

    cost = ClusterConfig(num_instances=4).cost_model
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 300, size=(500, 8)).astype(np.float64)
    context = batch * rng.uniform(0, 30_000, size=batch.shape)
    prefilling = rng.random(batch.shape) < 0.5
    chunk = 512
    expected = cost.step_time(
        np.where(prefilling & (batch > 0), chunk, 0), batch.astype(np.int64), context
    )
    out = np.empty_like(batch)
    tables = cost.step_tables(chunk + 300)
    kernel.iteration_times(
        batch, context, prefilling, chunk, *tables, cost.attention_coefficients, out
    )
    np.testing.assert_array_equal(out, expected, strict=True)
    x = rng.uniform(0, 10, 10_000)
    assert libm_pow(x, 1.75).tolist() == [math.pow(v, 1.75) for v in x]


def test_compiled_rows_match_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every step of a QLLM episode on LSMix (all six queue views, preempted requests), the
    compiled row choice shows the NumPy path's rows."""
    config = resolve_config("LSMix-v1", None, {"workload": {"num_requests": 96}})
    config = config.merged(HEURISTIC_ENV)
    shown = {}
    for name in ("numpy", "numba"):
        monkeypatch.setenv(KERNEL_VARIABLE, name)
        core, policy = SchedCore(2, config), baselines.get("qllm")
        core.reset_envs([0, 1], [3, 4])
        shown[name] = []
        while not core.sim.read("finished").all():
            shown[name].append(core.slots())
            core.step(policy.act({}, None, core))
    assert len(shown["numpy"]) > 200
    assert any((rows[:, config.observation.queue_rows :] >= 0).any() for rows in shown["numpy"])
    np.testing.assert_array_equal(np.stack(shown["numpy"]), np.stack(shown["numba"]))


def test_auto_kernel_compiles_at_once_for_big_workloads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cluster_state, "COMPILE_AFTER_EVENTS", 1000)
    spec = WorkloadSpec(num_requests=300)
    assert ClusterSim(ClusterConfig(), [spec.build(0), spec.build(1)]).runs_compiled()
    assert not ClusterSim(ClusterConfig(), [spec.build(0)]).runs_compiled()


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
