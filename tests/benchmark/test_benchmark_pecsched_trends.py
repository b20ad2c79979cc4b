"""PecSched's trends on the reduced PecSched scenario (Azure 2023 conversation trace).

The full scenario (``scripts/reproduce_results.py``, docs/results.md) shows the same trends
with a 2000 s window; this one keeps 300 s of the trace at 4x its rate, so the starvation
timeout (300 s) cannot be reached: it checks the longer waits of long requests instead.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pecgym.benchmark import evaluate
from pecgym.benchmark.scenarios import pecsched_scenario

POLICIES = ("fifo", "priority", "reservation", "pecsched")
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def runs(conv_trace_path: Path) -> pd.DataFrame:
    frame = evaluate(POLICIES, pecsched_scenario(conv_trace_path, reduced=True), SEEDS)
    return frame.set_index(["policy", "seed"])


def per_seed(runs: pd.DataFrame, policy: str, metric: str) -> pd.Series:
    return runs.loc[policy, metric]


def test_every_run_completes_through_valid_actions(runs: pd.DataFrame) -> None:
    assert (runs["completed"] == runs["requests"]).all()
    assert (runs["invalid_actions"] == 0).all() and (runs["unencodable"] == 0).all()


def test_fifo_blocks_short_requests_behind_long_ones(runs: pd.DataFrame) -> None:
    assert (per_seed(runs, "fifo", "queueing_delay.short.p99") > 10.0).all()


def test_pecsched_halves_fifo_p99_short_queueing_delay(runs: pd.DataFrame) -> None:
    pec = per_seed(runs, "pecsched", "queueing_delay.short.p99")
    fifo = per_seed(runs, "fifo", "queueing_delay.short.p99")
    assert (pec <= 0.5 * fifo).all()


def test_pecsched_short_throughput_at_least_fifo(runs: pd.DataFrame) -> None:
    pec = per_seed(runs, "pecsched", "short_throughput_rps")
    assert (pec >= per_seed(runs, "fifo", "short_throughput_rps")).all()


def test_pecsched_long_jct_within_1_3x_of_fifo(runs: pd.DataFrame) -> None:
    pec = per_seed(runs, "pecsched", "jct.long.mean").mean()
    assert pec <= 1.3 * per_seed(runs, "fifo", "jct.long.mean").mean()


def test_priority_makes_long_requests_wait_longer_than_pecsched(runs: pd.DataFrame) -> None:
    waited = runs["queueing_delay.long.mean"]
    assert (waited.loc["priority"] > waited.loc["pecsched"]).all()
    assert (per_seed(runs, "pecsched", "starvation_rate") == 0).all()


def test_reservation_idles_most(runs: pd.DataFrame) -> None:
    idle = runs["gpu_idle_rate"].groupby("policy").mean()
    assert idle.idxmax() == "reservation"
