"""QLLM's trend on the reduced QLLM scenario: LS requests bypass the BE queue."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pecgym.benchmark import evaluate
from pecgym.benchmark.scenarios import qllm_scenario

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def runs(conv_trace_path: Path) -> pd.DataFrame:
    frame = evaluate(("fcfs", "qllm"), qllm_scenario(conv_trace_path, reduced=True), SEEDS)
    assert (frame["invalid_actions"] == 0).all() and (frame["unencodable"] == 0).all()
    return frame.set_index(["policy", "seed"])


def test_fcfs_misses_the_ttft_slo_where_qllm_meets_it(runs: pd.DataFrame) -> None:
    assert (runs.loc["fcfs", "slo_attainment"] < 0.9).all()
    assert (runs.loc["qllm", "slo_attainment"] >= 0.99).all()


def test_qllm_ls_ttft_at_least_5x_lower(runs: pd.DataFrame) -> None:
    assert (runs.loc["qllm", "ttft.ls.mean"] * 5 <= runs.loc["fcfs", "ttft.ls.mean"]).all()
    assert (runs.loc["qllm", "jct.ls.mean"] < runs.loc["fcfs", "jct.ls.mean"]).all()


def test_qllm_parks_be_prefills_and_loses_no_throughput(runs: pd.DataFrame) -> None:
    assert (runs.loc["qllm", "prefill_preemptions"] > 0).all()
    assert (runs.loc["fcfs", "prefill_preemptions"] == 0).all()
    ratio = runs.loc["qllm", "tokens_per_s"] / runs.loc["fcfs", "tokens_per_s"]
    assert ratio.between(0.98, 1.02).all()
