"""``pecgym simulate``: JSON output, clean errors for bad input, and the real trace."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pecgym.cli import main


def simulate(*args: str) -> int:
    return main(["simulate", "--quiet", *args])


def test_simulate_writes_json_summary(tmp_path: Path, capsys) -> None:
    path = tmp_path / "summary.json"
    code = simulate("--num-requests", "200", "--instances", "4", "--json", str(path))
    assert code == 0
    out = capsys.readouterr()
    assert "fifo" in out.out and "latency (s)" in out.out
    assert "Traceback" not in out.err
    summary = json.loads(path.read_text())
    assert summary["requests"] == 200 and summary["completed"] == 200
    assert summary["unfinished"] == 0 and summary["policy"] == "fifo"
    for key in ("ttft.p50", "queueing_delay.short.p99", "jct.p50", "ttft.long.p99"):
        assert key in summary
    assert summary["ttft.p50"] > 0
    assert summary["queueing_delay.short.p99"] >= 0
    assert summary["jct.p50"] >= summary["ttft.p50"]
    assert 0 <= summary["gpu_idle_rate"] <= 1
    # NaN is not JSON: missing values are written as null
    assert not any(isinstance(v, float) and math.isnan(v) for v in summary.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "no-such-policy"], "unknown policy"),
        (["--model", "gpt-9"], "unknown model"),
        (["--gpu", "tpu"], "unknown GPU"),
        (["--instances", "-3"], "num_instances"),
        (["--instances", "0"], "num_instances"),
        (["--tp", "3"], "power of two"),
        (["--model", "llama-3-70b", "--tp", "1"], "does not fit"),
        (["--trace", "/no/such/trace.csv"], "not found"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    path = tmp_path / "summary.json"
    code = simulate("--num-requests", "20", "--instances", "2", *args, "--json", str(path))
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("pecgym simulate: error:")
    assert message in err
    assert "Traceback" not in err
    assert not path.exists()


def test_simulate_on_the_real_conversation_trace(
    tmp_path: Path, capsys, conv_trace_path: Path
) -> None:
    path = tmp_path / "trace.json"
    code = simulate(
        "--trace", str(conv_trace_path), "--num-requests", "500", "--instances", "8",
        "--json", str(path),
    )  # fmt: skip
    assert code == 0
    summary = json.loads(path.read_text())
    assert summary["requests"] == 500 and summary["completed"] == 500
    assert summary["workload"] == conv_trace_path.stem
    # the first 500 requests of the trace span about 90 s at ~5.5 req/s
    assert 60 < summary["makespan"] < 200
    assert summary["ttft.p50"] > 0 and summary["jct.p99"] > summary["jct.p50"]
    assert "500 requests" in capsys.readouterr().out
