"""Leaderboard suite wall time: 1 vs 2 worker processes, and seeds batched in one vector env
vs one seed at a time.

Not a test: runs the suite three times into fresh temporary folders (batched on 1 worker,
batched on 2 workers, one seed per job on 1 worker) and prints each wall time and the
ratios, measured side by side in one run. The records of the three runs must agree: the
script checks that every episode's objective is identical across them.

    python benchmarks/bench_leaderboard.py [--suite v1] [--full] [--policies fifo,sjf,pecsched]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd

from pecgym.benchmark.leaderboard import run_leaderboard

SETTINGS = (
    ("batched, 1 worker", {"workers": 1, "batch": True}),
    ("batched, 2 workers", {"workers": 2, "batch": True}),
    ("one seed at a time, 1 worker", {"workers": 1, "batch": False}),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="v1")
    parser.add_argument("--full", action="store_true", help="the full suite (default: quick)")
    parser.add_argument("--policies", default="fifo,sjf,pecsched,qllm")
    args = parser.parse_args()
    policies = [p for p in args.policies.split(",") if p]
    rows, records = [], {}
    for label, options in SETTINGS:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            board = run_leaderboard(
                args.suite, policies, out=out, quick=not args.full, progress=False, **options
            )
            wall = time.perf_counter() - started
        episodes = board.episodes.sort_values(["scenario", "policy", "seed"])
        records[label] = episodes["objective"].to_numpy()
        rows.append({"setting": label, "episodes": len(episodes), "wall_s": round(wall, 1)})
        print(f"{label}: {len(episodes)} episodes in {wall:.1f} s", flush=True)
    table = pd.DataFrame(rows).set_index("setting")
    base = table.loc["batched, 1 worker", "wall_s"]
    table["vs batched 1 worker"] = (table["wall_s"] / base).round(2)
    suite = args.suite if args.full else f"{args.suite}-quick"
    print(f"\nsuite {suite}, policies {', '.join(['random', *policies])}\n")
    print(table.to_string())
    reference = records["batched, 1 worker"]
    same = all((values == reference).all() for values in records.values())
    print(f"\nevery episode's objective identical across the three runs: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
