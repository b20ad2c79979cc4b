"""request_frame and summarize on scenarios whose every figure can be worked out by hand
from the cost model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pecgym.baselines import FIFOPolicy
from pecgym.sim.config import ClusterConfig
from pecgym.sim.metrics import format_summary, request_frame, summarize, summary_table
from pecgym.sim.replay import replay
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.traces.workload import Workload

REL = 1e-9
ROWS = [  # (arrival, input, output): short, long, short, long
    (0.0, 4000, 1),
    (0.0, 6000, 1),
    (0.1, 2000, 3),
    (5.0, 6000, 1),
]
CONFIG = ClusterConfig(num_instances=1, starvation_timeout=0.1, ttft_slo=0.6)


def make_workload(rows, labels=None) -> Workload:
    arrival, inputs, outputs = (np.asarray(c) for c in zip(*rows, strict=True))
    return Workload(arrival, inputs, outputs, latency_sensitive=labels)


def run_fifo(rows, labels=None, config: ClusterConfig = CONFIG) -> ClusterSim:
    return replay(ClusterSim(config, [make_workload(rows, labels)]), FIFOPolicy().decide)


@pytest.fixture(scope="module")
def sim() -> ClusterSim:
    return run_fifo(ROWS)


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    """FIFO on one instance, worked out by hand. Request 0 prefills from 0 and is done
    (one output token) at P4; request 1 (long) waits for it; request 2 waits for both,
    then decodes two more tokens alone; request 3 arrives at 5 s to an idle instance."""
    cost = CONFIG.cost_model
    p4, p6, p2 = (cost.prefill_time(n) for n in (4000, 6000, 2000))
    step = cost.decode_step_time(1, 2000)
    arrival = np.array([0.0, 0.0, 0.1, 5.0])
    start = np.array([0.0, p4, p4 + p6, 5.0])
    first = np.array([p4, p4 + p6, p4 + p6 + p2, 5.0 + p6])
    finish = first + np.array([0.0, 0.0, 2 * step, 0.0])
    busy = (finish[2] - 0.0) + p6
    return {
        "arrival": arrival,
        "queueing_delay": start - arrival,
        "ttft": first - arrival,
        "jct": finish - arrival,
        "tbt": np.array([np.nan, np.nan, step, np.nan]),
        "finish": finish,
        "busy": np.array(busy),
        "idle": np.array(5.0 - finish[2]),
    }


def test_request_frame_matches_hand_computation(sim, expected) -> None:
    frame = request_frame(sim)
    assert list(frame.index) == [0, 1, 2, 3]
    assert frame["state"].tolist() == ["done"] * 4
    assert frame["is_long"].tolist() == [False, True, False, True]
    for column in ("queueing_delay", "ttft", "jct", "tbt"):
        np.testing.assert_allclose(frame[column], expected[column], rtol=REL, err_msg=column)
    np.testing.assert_allclose(frame["t_finish"], expected["finish"], rtol=REL)
    np.testing.assert_allclose(frame["t_start"], expected["arrival"] + expected["queueing_delay"])


def test_summary_overall_and_per_class_latencies(sim, expected) -> None:
    s = summarize(sim)
    q, ttft, jct = expected["queueing_delay"], expected["ttft"], expected["jct"]
    short, long_ = np.array([0, 2]), np.array([1, 3])
    assert s["requests"] == 4 and s["completed"] == 4 and s["unfinished"] == 0
    assert s["state.done"] == 4 and s["not_arrived"] == 0
    assert s["queueing_delay.p50"] == pytest.approx(np.median(q), rel=REL)
    assert s["ttft.p50"] == pytest.approx(np.median(ttft), rel=REL)
    assert s["jct.p50"] == pytest.approx(np.median(jct), rel=REL)
    assert s["ttft.mean"] == pytest.approx(ttft.mean(), rel=REL)
    # two short requests: p99 interpolates 99% of the way from the smaller to the larger
    q_short = q[short]
    assert s["queueing_delay.short.p99"] == pytest.approx(
        q_short.min() + 0.99 * (q_short.max() - q_short.min()), rel=REL
    )
    assert s["queueing_delay.short.mean"] == pytest.approx(q_short.mean(), rel=REL)
    assert s["jct.long.mean"] == pytest.approx(jct[long_].mean(), rel=REL)
    assert s["queueing_delay.long.p50"] == pytest.approx(q[long_].mean(), rel=REL)
    assert s["ttft.long.p90"] == pytest.approx(np.percentile(ttft[long_], 90), rel=REL)
    # TBT exists only for request 2 (the others have one output token)
    assert s["tbt.mean"] == pytest.approx(expected["tbt"][2], rel=REL)
    assert s["tbt.short.p99"] == pytest.approx(expected["tbt"][2], rel=REL)
    assert math.isnan(s["tbt.long.mean"])
    # no labels: no LS/BE keys
    assert not any(".ls." in key or ".be." in key for key in s)


def test_summary_throughput_idle_starvation_and_slo(sim, expected) -> None:
    s = summarize(sim)
    makespan = expected["finish"].max() - 0.0
    assert s["makespan"] == pytest.approx(makespan, rel=REL)
    assert s["throughput_rps"] == pytest.approx(4 / makespan, rel=REL)
    assert s["short_throughput_rps"] == pytest.approx(2 / makespan, rel=REL)
    assert s["tokens_per_s"] == pytest.approx(6 / makespan, rel=REL)
    # one instance: busy until request 2 is done, idle until request 3 arrives
    idle, busy = float(expected["idle"]), float(expected["busy"])
    assert idle > 3.5
    assert s["gpu_idle_rate"] == pytest.approx(idle / (idle + busy), rel=1e-9)
    assert 0.0 <= s["gpu_idle_rate"] <= 1.0
    # request 1 (long) waited P4 > 0.1 s; request 3 (long) started at once
    assert expected["queueing_delay"][1] > CONFIG.starvation_timeout
    assert s["starved_long"] == 1 and s["starvation_rate"] == 0.5
    # TTFT SLO of 0.6 s: requests 0 and 3 meet it, 1 and 2 do not
    met = expected["ttft"] <= CONFIG.ttft_slo
    assert met.tolist() == [True, False, False, True]
    assert s["slo_attainment"] == 0.5
    assert s["long_prefill_preemptions"] == 0 and s["kv_evictions"] == 0
    assert not s["truncated"] and not s["stalled"]


def test_labels_add_ls_be_classes_and_slo_counts_ls_only(expected) -> None:
    labels = np.array([True, False, False, True])
    s = summarize(run_fifo(ROWS, labels))
    ttft = expected["ttft"]
    assert s["ttft.ls.p50"] == pytest.approx(np.median(ttft[labels]), rel=REL)
    assert s["ttft.be.mean"] == pytest.approx(ttft[~labels].mean(), rel=REL)
    assert s["jct.be.p99"] == pytest.approx(np.percentile(expected["jct"][~labels], 99), rel=REL)
    assert s["slo_attainment"] == 1.0  # both LS requests meet the SLO
    table = summary_table(s)
    assert list(table.columns) == ["all", "short", "long", "ls", "be"]
    assert table.loc["ttft p50", "ls"] == s["ttft.ls.p50"]
    assert "latency (s)" in format_summary(s)


def test_idle_rate_counts_every_instance() -> None:
    """One request on two instances: one works for the whole episode, one never does."""
    config = ClusterConfig(num_instances=2)
    sim = run_fifo([(0.0, 1000, 1)], config=config)
    s = summarize(sim)
    assert s["sim_time"] == pytest.approx(config.cost_model.prefill_time(1000), rel=REL)
    assert s["gpu_idle_rate"] == pytest.approx(0.5, rel=REL)
    np.testing.assert_allclose(sim.busy_time[0] + sim.idle_time[0], s["sim_time"], rtol=REL)


class NeverActs:
    name = "never"

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        return Commands.empty(sim.num_envs).select(envs)


def test_unstarted_requests_count_as_waiting_until_the_end() -> None:
    """Truncated at 2 s with nothing ever started: a long request waiting since 0 is starved,
    one that arrived at 1.95 s is not (yet), one arriving at 3 s never arrived."""
    rows = [(0.0, 6000, 5), (0.5, 100, 5), (1.95, 6000, 5), (3.0, 6000, 5)]
    config = ClusterConfig(num_instances=1, starvation_timeout=0.1, horizon=2.0)
    sim = replay(ClusterSim(config, [make_workload(rows)]), NeverActs().decide)
    s = summarize(sim)
    assert s["truncated"] and s["sim_time"] == 2.0
    assert s["unfinished"] == 3 and s["not_arrived"] == 1 and s["completed"] == 0
    assert s["starved_long"] == 1
    assert s["starvation_rate"] == pytest.approx(1 / 3)
    assert s["slo_attainment"] == 0.0
    # never served, yet counted: censored at the end, their waits so far (2, 1.5, 0.05 s)
    assert s["ttft.p50"] == pytest.approx(1.5) and s["queueing_delay.mean"] == pytest.approx(
        (2.0 + 1.5 + 0.05) / 3
    )
    assert s["jct.p99"] == pytest.approx(np.percentile([2.0, 1.5, 0.05], 99))
    assert math.isnan(s["tbt.mean"])  # no request has a first token
    assert s["throughput_rps"] == 0.0
    assert s["gpu_idle_rate"] == 1.0
    frame = request_frame(sim)
    assert frame["state"].tolist() == ["waiting", "waiting", "waiting", "pending"]
    assert frame["queueing_delay"].tolist()[:3] == pytest.approx([2.0, 1.5, 0.05])
    assert np.isnan(frame["queueing_delay"].iloc[3])  # never arrived
    assert frame["censored"].tolist() == [True, True, True, False]
