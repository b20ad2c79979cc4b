"""One replay's speed, this checkout against an older commit, side by side in one run.

Not a test. For each checkout (this one, and ``--old DIR``: a worktree of the commit to
compare with, e.g. ``git worktree add /tmp/old b207ecc``) it times, as separate processes
and alternating between the two, ``--repeat`` times each:

- ``replay``: ``pecgym simulate`` of FIFO on a trace (default: the full Azure 2023
  conversation trace on 4 x Llama-3-70B TP8 on H100), wall time and env steps;
- ``batched``: ``pecgym compare`` of FIFO on 16 seeds of 2000 synthetic conversation
  requests on 8 instances (one batched core), wall time per env;
- ``startup``: ``pecgym --help`` and a 10-request ``pecgym simulate``.

It prints the median of each and the old/new ratio.

    python benchmarks/bench_replay.py --old /tmp/old [--trace PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = ROOT.parent / "shared" / "traces" / "AzureLLMInferenceTrace_conv.csv"


def commands(trace: Path, out: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "pecgym.cli"]
    seeds = ",".join(str(s) for s in range(16))
    return {
        "replay": [
            *cli, "simulate", "--policy", "fifo", "--trace", str(trace), "--model",
            "llama-3-70b", "--gpu", "h100", "--tp", "8", "--instances", "4", "--quiet",
            "--json", str(out / "replay.json"),
        ],
        "batched (16 envs)": [
            *cli, "compare", "--policies", "fifo", "--seeds", seeds, "--num-requests", "2000",
            "--instances", "8", "--quiet", "--out", str(out / "compare"),
        ],
        "pecgym --help": [*cli, "--help"],
        "simulate 10 requests": [*cli, "simulate", "--num-requests", "10", "--quiet"],
    }  # fmt: skip


def timed(command: list[str], checkout: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(checkout), MPLBACKEND="Agg")
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=checkout, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="a worktree of the old commit")
    parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    checkouts = {"old": args.old.resolve(), "new": ROOT}
    times: dict[tuple[str, str], list[float]] = {}
    steps = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for label, checkout in checkouts.items():
                out = Path(tmp) / label
                out.mkdir(exist_ok=True)
                for name, command in commands(args.trace, out).items():
                    times.setdefault((name, label), []).append(timed(command, checkout))
                steps[label] = json.loads((out / "replay.json").read_text())["steps"]
                print(f"{label}: done one round", file=sys.stderr, flush=True)
    print(f"\nmedian of {args.repeat} runs, each a fresh process (s)\n")
    print(f"{'':24} {'old':>9} {'new':>9} {'old/new':>8}")
    for name in commands(args.trace, Path(tmp)):
        old = statistics.median(times[(name, "old")])
        new = statistics.median(times[(name, "new")])
        print(f"{name:24} {old:9.2f} {new:9.2f} {old / new:8.2f}")
    print(f"\nreplay env steps: old {steps['old']}, new {steps['new']}")


if __name__ == "__main__":
    main()
