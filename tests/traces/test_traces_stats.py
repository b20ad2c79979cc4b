"""Trace statistics, their table, and the ``pecgym traces info`` command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pecgym import cli
from pecgym.traces import (
    Workload,
    format_trace_stats,
    label_latency_sensitive,
    load_azure_csv,
    synthetic_workload,
    trace_stats,
)

# DOMAIN.md section 3, 2023 conversation trace.
DOMAIN_CONV = {
    "requests": (19_366, 0),
    "duration_s": (3501.7, 0.05),
    "rate_rps": (5.53, 0.005),
    "interarrival_cv": (1.09, 0.005),
    "input_p50": (1020, 0.5),
    "input_p80": (1315, 0.5),
    "input_p90": (2734, 0.5),
    "input_p99": (4142, 0.5),
    "input_max": (14050, 0),
    "input_share_under_2048": (0.86, 0.005),
    "output_mean": (211, 0.5),
    "output_p50": (129, 0),
}


@pytest.fixture(scope="module")
def real_stats(conv_trace_path: Path) -> dict:
    return trace_stats(load_azure_csv(conv_trace_path))


@pytest.mark.parametrize("key", sorted(DOMAIN_CONV))
def test_real_trace_matches_domain_figures(real_stats: dict, key: str) -> None:
    value, tolerance = DOMAIN_CONV[key]
    assert real_stats[key] == pytest.approx(value, abs=tolerance)


def test_long_share_and_threshold() -> None:
    w = Workload(arrival=[0, 1, 2, 4], input_tokens=[10, 5000, 3000, 9000], output_tokens=[1] * 4)
    stats = trace_stats(w, threshold=4096)
    assert stats["long_share"] == 0.5
    assert stats["long_threshold"] == 4096
    assert stats["rate_rps"] == 1.0
    assert stats["input_share_under_2048"] == 0.25
    assert stats["ls_share"] is None
    assert trace_stats(w, threshold=100)["long_share"] == 0.75


def test_ls_share_when_labelled() -> None:
    w = label_latency_sensitive(synthetic_workload(num_requests=1000), 0.3, seed=0)
    stats = trace_stats(w)
    assert stats["ls_share"] == pytest.approx(0.3)
    assert "latency-sensitive share  30.0%" in format_trace_stats(stats)


def test_empty_workload_gives_nan() -> None:
    stats = trace_stats(Workload(np.zeros(0), np.zeros(0), np.zeros(0)))
    assert stats["requests"] == 0
    assert math.isnan(stats["rate_rps"]) and math.isnan(stats["input_p50"])
    assert "n/a" in format_trace_stats(stats)


def test_format_is_aligned(real_stats: dict) -> None:
    table = format_trace_stats(real_stats)
    lines = table.splitlines()
    assert "requests" in lines[1] and "19,366" in lines[1]
    assert "input p50 (tokens)" in table and "1,020" in table
    assert "inputs < 2048 tokens" in table and "86.0%" in table
    assert "long inputs (> 4,096)" in table
    # Values start in one column.
    starts = {len(line) - len(line.split("  ")[-1].lstrip()) for line in lines}
    assert len(starts) == 1


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    # Only this module's command: the test must not depend on the other sub-commands.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("traces",))

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_info_real_trace(run_cli, conv_trace_path: Path) -> None:
    code, out, _ = run_cli("traces", "info", str(conv_trace_path))
    assert code == 0
    assert "19,366" in out and "5.53" in out and "14,050" in out


def test_cli_info_json(run_cli, conv_trace_path: Path) -> None:
    code, out, _ = run_cli("traces", "info", str(conv_trace_path), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["requests"] == 19_366
    assert data["input_p50"] == 1020
    assert data["ls_share"] is None


def test_cli_info_synthetic(run_cli) -> None:
    code, out, _ = run_cli("traces", "info", "synthetic:conv")
    assert code == 0
    assert "synthetic:conv" in out and "2,000" in out
    code, out, _ = run_cli("traces", "info", "synthetic:code", "--json", "--num-requests", "300")
    assert code == 0
    assert json.loads(out)["requests"] == 300


def test_cli_errors_are_clean(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("traces", "info", "synthetic:chat")
    assert code == 2 and "unknown synthetic profile 'chat'" in err
    code, _, err = run_cli("traces", "info", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens\n2024-05-10 00:00:00,1\n")
    code, _, err = run_cli("traces", "info", str(bad))
    assert code == 2 and "missing column 'GeneratedTokens'" in err
