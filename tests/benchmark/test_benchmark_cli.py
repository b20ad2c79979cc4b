"""``pecgym compare`` and ``pecgym simulate`` for every baseline, through the harness."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pecgym import baselines
from pecgym.cli import main

TINY = ["--num-requests", "40", "--rate-scale", "4", "--long-fraction", "0.05", "--instances", "8"]


def test_compare_writes_table_runs_and_plots(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cmp"
    code = main(
        ["compare", "--quiet", "--policies", "fifo,pecsched,priority", "--seeds", "0,1",
         "--ls-fraction", "0.2", *TINY, "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "short queueing p99 (s)" in printed and "LS TTFT mean (s)" in printed
    table = pd.read_csv(out / "table.csv", index_col="policy")
    assert list(table.index) == ["fifo", "pecsched", "priority"]
    assert (table["seeds"] == 2).all() and (table["invalid_actions"] == 0).all()
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 6 and set(runs["seed"]) == {0, 1}
    records = json.loads((out / "table.json").read_text())
    assert set(records) == {"fifo", "pecsched", "priority"}
    assert records["pecsched"]["queueing_delay.short.p99"] == pytest.approx(
        table.loc["pecsched", "queueing_delay.short.p99"]
    )
    for name in ("short_queueing_cdf.png", "metrics.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_refuses_unknown_policies(tmp_path: Path, capsys) -> None:
    code = main(["compare", "--policies", "fifo,nope", *TINY, "--out", str(tmp_path)])
    assert code == 2
    assert "unknown policy 'nope'" in capsys.readouterr().err
    for bad, named in (("", "names no policy"), ("fifo,agent:missing.zip", "no agent")):
        assert main(["compare", "--policies", bad, *TINY, "--out", str(tmp_path)]) == 2
        assert named in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before any work


@pytest.mark.parametrize("name", baselines.names())
def test_simulate_runs_every_baseline(name: str, tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    extra = ["--horizon", "60"] if name == "random" else []
    code = main(["simulate", "--quiet", "--policy", name, *TINY, *extra, "--json", str(path)])
    assert code == 0
    summary = json.loads(path.read_text())
    assert summary["policy"] == name and summary["requests"] == 40
    if name != "random":
        assert summary["completed"] == 40 and summary["invalid_actions"] == 0


def test_simulate_accepts_a_named_scenario_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    code = main(
        ["simulate", "--quiet", "--scenario", "qllm-small", "--policy", "qllm",
         "--duration", "30", "--json", str(path)]
    )  # fmt: skip
    if code == 2:  # no trace beside the project
        pytest.skip("the Azure 2023 conversation trace is not available")
    summary = json.loads(path.read_text())
    assert summary["sp_method"] == "ulysses" and summary["ttft.ls.mean"] is not None
    assert summary["sim_time"] > 20
