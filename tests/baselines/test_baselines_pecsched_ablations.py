"""Each PecSched ablation loses on the metric its technique targets (reduced scenario)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pecgym.benchmark import evaluate
from pecgym.benchmark.scenarios import pecsched_scenario

POLICIES = (
    "pecsched",
    "pecsched-no-preempt",
    "pecsched-no-disagg",
    "pecsched-no-coloc",
    "pecsched-no-fastsp",
)
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def runs(conv_trace_path: Path) -> pd.DataFrame:
    frame = evaluate(POLICIES, pecsched_scenario(conv_trace_path, reduced=True), SEEDS)
    assert (frame["invalid_actions"] == 0).all() and (frame["unencodable"] == 0).all()
    return frame.set_index(["policy", "seed"])


def worse(runs: pd.DataFrame, ablation: str, metric: str) -> pd.Series:
    """Per seed: the ablation's metric exceeds PecSched's."""
    return runs.loc[ablation, metric] > runs.loc["pecsched", metric]


def test_without_preemption_short_requests_queue(runs: pd.DataFrame) -> None:
    assert worse(runs, "pecsched-no-preempt", "queueing_delay.short.p99").all()
    assert worse(runs, "pecsched-no-preempt", "ttft.short.mean").all()
    assert (runs.loc["pecsched-no-preempt", "long_prefill_preemptions"] == 0).all()
    assert (runs.loc["pecsched", "long_prefill_preemptions"] > 0).all()


def test_without_disaggregation_short_requests_are_slower(runs: pd.DataFrame) -> None:
    # short decodes share iterations with prefill chunks: slower tokens and slower requests
    for metric in ("tbt.short.mean", "jct.short.mean", "ttft.short.mean"):
        assert worse(runs, "pecsched-no-disagg", metric).all(), metric
    assert (runs.loc["pecsched-no-disagg", "decode_migrations"] == 0).all()


def test_without_colocation_long_requests_are_slower(runs: pd.DataFrame) -> None:
    assert worse(runs, "pecsched-no-coloc", "jct.long.mean").all()
    assert (runs.loc["pecsched-no-coloc", "decode_preemptions"] > 0).all()
    assert (runs.loc["pecsched", "decode_preemptions"] == 0).all()


def test_without_fast_sp_long_requests_are_slower(runs: pd.DataFrame) -> None:
    assert worse(runs, "pecsched-no-fastsp", "jct.long.mean").all()
    assert (runs.loc["pecsched-no-fastsp", "sp_method"] == "ring").all()
