"""The cost model against vidur's public A100 profiles (``../shared/reference/vidur``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pecgym.commands import costmodel as costmodel_command
from pecgym.sim.calibration import (
    LINEAR_OPS,
    calibration_table,
    compare_allreduce,
    mlp_csv_path,
    vidur_linear_ms,
)
from pecgym.sim.costmodel import CostModel

# DOMAIN.md section 4: non-attention layers summed over the model, ms at 1/128/512/2048/4096.
REFERENCE_TOKENS = [1, 128, 512, 2048, 4096]
REFERENCE_SUMS = {
    ("llama-3-8b", 1): [9.7, 13.2, 34.6, 141.8, 272.9],
    ("llama-3-70b", 4): [24.9, 33.5, 89.9, 341.1, 650.4],
}
TOLERANCE_PCT = 20.0


@pytest.mark.parametrize(("model", "tp"), list(REFERENCE_SUMS))
def test_vidur_sums_match_domain_reference(vidur_dir: Path, model: str, tp: int) -> None:
    measured = vidur_linear_ms(vidur_dir, model, "a100", tp)
    np.testing.assert_allclose(
        measured.loc[REFERENCE_TOKENS].to_numpy(), REFERENCE_SUMS[(model, tp)], atol=0.051
    )


def test_vidur_sum_excludes_embedding_and_uses_first_duplicate(vidur_dir: Path) -> None:
    assert "emb" not in LINEAR_OPS and len(LINEAR_OPS) == 9
    raw = pd.read_csv(mlp_csv_path(vidur_dir, "Meta-Llama-3-8B"))
    raw = raw[raw["num_tensor_parallel_workers"] == 1]
    assert raw["num_tokens"].duplicated().any()  # the tables repeat a few token counts
    first = raw[raw["num_tokens"] == 2048].iloc[0]
    expected = sum(first[f"time_stats.{op}.median"] for op in LINEAR_OPS) * 32
    assert vidur_linear_ms(vidur_dir, "llama-3-8b").loc[2048] == pytest.approx(expected)


@pytest.mark.parametrize(("model", "tp"), list(REFERENCE_SUMS))
def test_linear_time_within_20_percent(vidur_dir: Path, model: str, tp: int) -> None:
    table = calibration_table(vidur_dir, model, "a100", tp)
    table = table[(table["tokens"] >= 128) & (table["tokens"] <= 4096)]
    powers = {128, 256, 512, 1024, 2048, 4096}
    assert powers <= set(table["tokens"])
    assert len(table) > 200  # every profiled row in the range, not only the powers of two
    worst = table.loc[table["error_pct"].abs().idxmax()]
    assert abs(worst["error_pct"]) < TOLERANCE_PCT, worst.to_dict()
    assert table["error_pct"].abs().mean() < 6.0  # and close on average


@pytest.mark.parametrize(("model", "tp"), list(REFERENCE_SUMS))
def test_small_batches_match_too(vidur_dir: Path, model: str, tp: int) -> None:
    table = calibration_table(vidur_dir, model, "a100", tp, tokens=[1, 2, 4, 8, 16, 32, 64])
    assert table["error_pct"].abs().max() < 10.0


def test_calibration_table_columns(vidur_dir: Path) -> None:
    table = calibration_table(vidur_dir, "Meta-Llama-3-8B", "A100-80GB", 1, tokens=[128, 4096])
    assert list(table.columns) == ["tokens", "vidur_ms", "model_ms", "error_pct"]
    cm = CostModel("llama-3-8b", "a100")
    assert table["model_ms"].iloc[1] == pytest.approx(cm.linear_time(4096) * 1e3)
    ratio = table["model_ms"] / table["vidur_ms"] - 1
    np.testing.assert_allclose(table["error_pct"], ratio * 100)


def test_allreduce_close_to_vidur(vidur_dir: Path) -> None:
    table = compare_allreduce(vidur_dir, "a100")
    assert set(table["num_workers"]) == {2, 4, 8}
    # messages of 1 to 4096 tokens of a 4096..8192-wide model
    table = table[(table["size_bytes"] >= 8192) & (table["size_bytes"] <= 67_108_864)]
    assert table["error_pct"].abs().median() < 15.0
    big = table[table["size_bytes"] >= 16 * 2**20]
    assert big["error_pct"].abs().max() < 25.0


def test_missing_profiles(tmp_path: Path, vidur_dir: Path) -> None:
    with pytest.raises(FileNotFoundError):
        vidur_linear_ms(tmp_path, "llama-3-8b")
    with pytest.raises(ValueError, match="no vidur profile"):
        vidur_linear_ms(vidur_dir, "mixtral-8x7b")
    with pytest.raises(ValueError, match="tp=16"):
        vidur_linear_ms(vidur_dir, "llama-3-8b", tp=16)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="pecgym")
    costmodel_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args), capsys.readouterr().out


def test_cli_calibrate(vidur_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(["costmodel", "--calibrate", "--vidur-dir", str(vidur_dir)], capsys)
    assert code == 0
    assert "llama-3-8b" in out and "llama-3-70b" in out
    assert "vidur ms" in out and "error %" in out
    assert "272.93" in out and "650.40" in out


def test_cli_calibrate_json(vidur_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["costmodel", "--calibrate", "--json", "--vidur-dir", str(vidur_dir)]
    code, out = _run(argv, capsys)
    assert code == 0
    data = json.loads(out)
    assert [(d["model"], d["tp"]) for d in data] == [("llama-3-8b", 1), ("llama-3-70b", 4)]
    rows = data[0]["rows"]
    assert set(rows[0]) == {"tokens", "vidur_ms", "model_ms", "error_pct"}
