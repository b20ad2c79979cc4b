"""``pecgym simulate``: run one policy on one workload, through the env's actions, and report."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from pecgym import baselines
from pecgym.benchmark.harness import resolve_policy, run_evaluation
from pecgym.commands.options import add_config_arguments, scenario_from_args
from pecgym.outputs import output_file
from pecgym.sim.metrics import format_summary


def json_safe(value: Any) -> Any:
    """A JSON-serialisable version of a summary value (NaN becomes null)."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def run(args: argparse.Namespace) -> int:
    json_path = output_file(args.json, "--json") if args.json else None
    requests_path = output_file(args.requests_csv, "--requests-csv") if args.requests_csv else None
    scenario = scenario_from_args(args)
    policy = resolve_policy(args.policy)
    config = scenario.env_config(policy)
    seed = scenario.test_seeds[0] if args.seed is None else args.seed
    workload = scenario.workload.build(seed)  # fails early on a bad trace
    result = run_evaluation(
        [policy], scenario, [seed], requests=bool(args.requests_csv), progress=not args.quiet
    )
    summary = {k: json_safe(v) for k, v in result.summary.iloc[0].to_dict().items()}
    summary.update(workload=workload.name)
    cluster = config.cluster
    print(
        f"{policy.name} on {workload.name} (seed {seed}): {len(workload)} requests, "
        f"{cluster.num_instances} x {cluster.model} on {cluster.tp} x {cluster.gpu}, "
        f"simulated through the env in {summary['wall_time_s']:.2f} s "
        f"({summary['steps']} steps, {summary['invalid_actions']} invalid)\n"
    )
    print(format_summary(summary))
    if json_path is not None:
        summary["config"] = config.to_dict()
        json_path.write_text(json.dumps(summary, indent=2) + "\n")
    if requests_path is not None:
        result.requests.to_csv(requests_path, index=False)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a scheduling policy on a workload and print its metrics",
        description="Run a scheduling policy on a workload (through the env's actions) and "
        "print its metrics.",
    )
    parser.add_argument(
        "--policy",
        default="fifo",
        help=f"one of: {', '.join(baselines.names())}, agent:NAME, agent:PATH.zip",
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--seed", type=int, help="workload seed (default: the scenario's first test seed)"
    )
    parser.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    parser.add_argument("--requests-csv", metavar="PATH", help="write per-request metrics")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)
