"""Measure every benchmark scenario on its held-out test seeds and write docs/scenarios.md.

For each scenario of :mod:`pecgym.envs.scenarios` (but the general ``ClusterSched-v1``) this
runs random (uniform over the allowed actions, as ``action_space.sample(mask)``), FIFO, SJF,
PecSched and QLLM through the env's actions on the test seeds, and reports the primary
objective (mean and 95% confidence interval over seeds), the secondary metrics, completed
requests and the steps per request (mean, and the worst episode). Results are data:
``docs/results/scenarios.csv`` (one row per policy, scenario and seed) and the page.

Usage (from the project root; about 3 minutes on 2 cores)::

    python scripts/scenario_table.py              # all test seeds (20 per scenario)
    python scripts/scenario_table.py --seeds 5    # the first 5 test seeds
    python scripts/scenario_table.py --reuse      # rewrite the page from the saved data

The shipped agents on these scenarios are measured by ``scripts/train_zoo.py``
(``docs/agents.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from pecgym.benchmark import Scenario, run_evaluation
from pecgym.benchmark.harness import EPISODE_COLUMNS
from pecgym.benchmark.stats import mean_ci
from pecgym.envs.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("random", "fifo", "sjf", "pecsched", "qllm")
SECONDARY = {
    "queueing_delay.short.p99": "short queueing p99 (s)",
    "jct.long.mean": "long JCT mean (s)",
    "starvation_rate": "starvation",
    "slo_attainment": "TTFT SLO attainment (LS if labelled)",
}


def interval(values: pd.Series) -> str:
    """Mean and 95% confidence interval (normal approximation over seeds)."""
    mean, half = mean_ci(values)
    return f"{mean:.3g} ± {half:.2g}"


def measure(name: str, seeds: int) -> pd.DataFrame:
    spec = SCENARIOS[name]
    scenario = Scenario.from_env_id(spec.env_id)
    policies = list(POLICIES)
    test = scenario.config.seeds.test_seeds(seeds)
    started = time.perf_counter()
    frame = run_evaluation(policies, scenario, test, progress=True).summary
    print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    frame["steps_per_request"] = frame["steps"] / frame["requests"]
    return frame[[*EPISODE_COLUMNS, "steps_per_request"]]


def page(frames: pd.DataFrame, seeds: int, docs: Path) -> str:
    lines = [
        "# Benchmark scenarios",
        "",
        "Each scenario is a registered env id and a set of settings (`pecgym/envs/scenarios.py`).",
        "Figures: every policy on the scenario's held-out test seeds "
        f"({seeds} per scenario), mean and 95% confidence interval over seeds; lower "
        "objective is better. Regenerate with `python scripts/scenario_table.py` "
        "(data: `docs/results/scenarios.csv`; configurations: "
        "`docs/results/scenarios_config.json`).",
        "",
        "Random is uniform over the allowed actions (`env.action_space.sample(mask=...)`): "
        "it pauses and resumes at random, which shares the instances among requests, so on "
        "slowdown it can beat rules that never preempt.",
        "",
    ]
    for name, frame in frames.groupby("scenario", sort=False):
        spec = SCENARIOS[name]
        config = spec.config()
        c, w = config.cluster, config.workload
        lines += [
            f"## {spec.env_id}",
            "",
            spec.description,
            "",
            f"- Cluster: {c.num_instances} x {c.model} (TP{c.tp}, {c.gpu}), SP {c.sp_method}, "
            f"decode pool {c.decode_pool_size}, drain time {c.drain_time:g} s.",
            f"- Workload: {w.source}, {w.num_requests} requests, rate x{w.rate_scale:g}"
            + (
                f", {w.long_fraction:.0%} inputs rescaled to {w.long_range}"
                if w.long_fraction
                else ""
            )
            + (f", {w.ls_fraction:.0%} latency-sensitive" if w.ls_fraction else "")
            + ".",
            f"- Objective: `{config.reward.objective}`; seeds: train {config.seeds.train}, "
            f"test {config.seeds.test}.",
            "",
        ]
        head = ["policy", "objective", "completed", "unfinished", *SECONDARY.values()]
        head.append("steps/request (worst)")
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for policy, rows in frame.groupby("policy", sort=False):
            cells = [policy, interval(rows["objective"]), f"{rows['completed'].mean():.1f}"]
            cells.append(f"{rows['unfinished'].mean():.1f}")
            for key in SECONDARY:
                value = rows[key].mean()
                cells.append("-" if pd.isna(value) else f"{value:.3g}")
            cells.append(
                f"{rows['steps_per_request'].mean():.1f} ({rows['steps_per_request'].max():.1f})"
            )
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "Learned agents on these scenarios (imitation warm start, then MaskablePPO), against "
        "the same baselines and test seeds: [agents.md](agents.md).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=None, help="test seeds per scenario")
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="output docs directory")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--reuse", action="store_true", help="rewrite the page from saved data")
    args = parser.parse_args(argv)
    names = [n for n in SCENARIOS if n != "ClusterSched-v1"]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    docs = Path(args.docs)
    data = docs / "results" / "scenarios.csv"
    if args.reuse:
        frames = pd.read_csv(data)
    else:
        frames = pd.concat([measure(name, args.seeds) for name in names], ignore_index=True)
        data.parent.mkdir(parents=True, exist_ok=True)
        frames.to_csv(data, index=False, float_format="%.6g")
        configs = {name: SCENARIOS[name].config().to_dict() for name in names}
        (data.parent / "scenarios_config.json").write_text(json.dumps(configs, indent=2) + "\n")
    seeds = int(frames.groupby(["scenario", "policy"]).size().min())
    text = page(frames, seeds, docs)
    (docs / "scenarios.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
