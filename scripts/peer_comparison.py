"""pecgym against a reference simulator (Vidur) on the same trace, model, GPU and dispatch.

Reads the reference figures from ``../shared/reference/vidur-codellama34b.md`` (Vidur,
CodeLlama-34B on A100 TP2, the Azure 2023 conversation trace with prompts clipped so that
prompt + output <= 4096 tokens, round-robin dispatch at arrival, Sarathi with 512-token
chunks), runs pecgym on the same set-up with three dispatch rules (``rr`` and ``lor`` bind at
arrival like Vidur; ``fifo`` is pecgym's late-binding global queue), and ``rr`` again with
``cluster.chunked_prefill`` (a lone prefill also goes 512 tokens per iteration, as in
Sarathi), and writes the table to ``docs/peer_comparison.md`` and
``docs/results/peer_comparison.csv``.

Usage (from the project root; about 1 minute on 2 cores)::

    python scripts/peer_comparison.py [--policies rr,lor,fifo] [--chunked rr] [--replicas 4,16]
                                      [--reuse]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pecgym.benchmark import Scenario, run_evaluation
from pecgym.envs.config import EnvConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference" / "vidur-codellama34b.md"
TRACE = SHARED / "traces" / "AzureLLMInferenceTrace_conv.csv"
MAX_TOKENS = 4096
"""Vidur's profile covers 4096 tokens: prompts are clipped so prompt + output fit."""

CSV = ROOT / "docs" / "results" / "peer_comparison.csv"

METRICS = {
    "TTFT p50": "ttft.p50",
    "TTFT p99": "ttft.p99",
    "TBT p50": "tbt.p50",
    "TBT p99": "tbt.p99",
    "E2E p50": "jct.p50",
    "E2E p99": "jct.p99",
    "queue p99": "queueing_delay.p99",
}
"""The reference table's columns and the pecgym summary keys they match."""


def reference_table(path: Path = REFERENCE) -> pd.DataFrame:
    """The reference's end-to-end rows for the Sarathi-512 scheduler, by replica count."""
    rows = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\|\s*(\d+) replicas, trace x1\s*\|\s*Sarathi-512\s*\|(.*)\|\s*$", line)
        if match:
            values = [float(v) for v in match.group(2).split("|")]
            rows[int(match.group(1))] = dict(zip(METRICS, values, strict=True))
    if not rows:
        raise SystemExit(f"{path}: no 'N replicas, trace x1 | Sarathi-512' rows found")
    return pd.DataFrame.from_dict(rows, orient="index")


def clipped_trace(folder: Path) -> Path:
    """The trace with prompts clipped so that prompt + output <= :data:`MAX_TOKENS`."""
    frame = pd.read_csv(TRACE)
    output = np.minimum(frame["GeneratedTokens"], MAX_TOKENS - 1)
    prompt = np.minimum(frame["ContextTokens"], MAX_TOKENS - output)
    clipped = int((prompt < frame["ContextTokens"]).sum())
    frame["ContextTokens"], frame["GeneratedTokens"] = prompt, output
    path = folder / "conv_clipped.csv"
    frame.to_csv(path, index=False)
    print(f"clipped {clipped} of {len(frame)} prompts")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", default="rr,lor,fifo")
    parser.add_argument("--chunked", default="rr", help="policies also run with chunked_prefill")
    parser.add_argument("--replicas", default="4,16")
    parser.add_argument("--reuse", action="store_true", help="rewrite the page from the CSV")
    args = parser.parse_args()
    if args.reuse:
        write_page(pd.read_csv(CSV))
        return
    reference = reference_table()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        trace = clipped_trace(Path(tmp))
        runs = [(p, False) for p in args.policies.split(",") if p]
        runs += [(p, True) for p in args.chunked.split(",") if p]
        for replicas in [int(r) for r in args.replicas.split(",")]:
            for policy, chunked in runs:
                config = EnvConfig.build(
                    {
                        "cluster": {"model": "codellama-34b", "gpu": "a100", "tp": 2,
                                    "num_instances": replicas, "chunk_tokens": 512,
                                    "chunked_prefill": chunked},
                        "workload": {"source": str(trace), "num_requests": None},
                    }
                )  # fmt: skip
                scenario = Scenario(f"{replicas} replicas", config)
                started = time.perf_counter()
                summary = run_evaluation([policy], scenario, [0], progress=False).summary
                label = f"pecgym {policy}" + (", chunked prefill" if chunked else "")
                row = {"replicas": replicas, "simulator": label}
                row.update({name: float(summary[key].iloc[0]) for name, key in METRICS.items()})
                rows.append(row)
                print(f"{replicas} replicas, {label}: {time.perf_counter() - started:.0f} s")
            rows.append({"replicas": replicas, "simulator": "Vidur (rr, Sarathi-512)",
                         **reference.loc[replicas].to_dict()})  # fmt: skip
    table = pd.DataFrame(rows)
    table.to_csv(CSV, index=False)
    write_page(table)


def write_page(table: pd.DataFrame) -> None:
    lines = [
        "# pecgym against Vidur",
        "",
        "CodeLlama-34B on A100-80GB with TP2 per replica, all 19,366 requests of the Azure "
        "2023 conversation trace at their recorded arrival times, prompts clipped so that "
        "prompt + output <= 4096 tokens, 512-token chunked prefill. Vidur's figures are "
        "from `../shared/reference/vidur-codellama34b.md` (round robin at arrival, Sarathi "
        "scheduler). pecgym runs three dispatch rules: `rr` (round robin at arrival, as "
        "Vidur), `lor` (least outstanding requests at arrival, as Splitwise-sim) and `fifo` "
        "(pecgym's global queue, bound when an instance is free). pecgym's engine prefills "
        "a lone prompt in one pass by default; `chunked prefill` rows set "
        "`cluster.chunked_prefill`, so that a lone prompt also goes 512 tokens per iteration "
        "as in Sarathi. Seconds; `python scripts/peer_comparison.py` regenerates this page.",
        "",
        "| replicas | simulator | " + " | ".join(METRICS) + " |",
        "|---|---|" + "---|" * len(METRICS),
    ]
    for row in table.to_dict("records"):
        values = " | ".join(f"{row[metric]:.4g}" for metric in METRICS)
        lines.append(f"| {row['replicas']} | {row['simulator']} | {values} |")
    lines += [
        "",
        "pecgym with the same dispatch as Vidur (`rr`), relative to Vidur (%):",
        "",
        "| replicas | pecgym | " + " | ".join(METRICS) + " |",
        "|---|---|" + "---|" * len(METRICS),
    ]
    for replicas, group in table.groupby("replicas"):
        theirs = group[group.simulator.str.startswith("Vidur")]
        for name in ("pecgym rr", "pecgym rr, chunked prefill"):
            ours = group[group.simulator == name]
            if ours.empty or theirs.empty:
                continue
            cells = []
            for metric in METRICS:
                a, b = float(ours[metric].iloc[0]), float(theirs[metric].iloc[0])
                cells.append(f"{100 * (a - b) / b:+.0f}" if b else "-")
            lines.append(f"| {replicas} | {name[7:]} | " + " | ".join(cells) + " |")
    (ROOT / "docs" / "peer_comparison.md").write_text("\n".join(lines) + "\n")
    print(f"wrote docs/peer_comparison.md\n{table.to_string(index=False)}")


if __name__ == "__main__":
    main()
