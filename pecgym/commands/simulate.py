"""``pecgym simulate``: run one policy on one workload, through the env's actions, and report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from pecgym import baselines
from pecgym.benchmark.harness import Scenario, run_evaluation
from pecgym.benchmark.scenarios import SCENARIOS, get_scenario
from pecgym.sim.config import ClusterConfig
from pecgym.sim.metrics import format_summary
from pecgym.traces.spec import WorkloadSpec

CLUSTER_DEFAULTS: dict[str, Any] = {
    "model": "llama-3-8b",
    "gpu": "a100",
    "tp": 1,
    "num_instances": 32,
    "sp_method": "ulysses",
}
"""The cluster when neither ``--scenario`` nor an option says otherwise."""

_CLUSTER_OPTIONS = {
    "model": "model",
    "gpu": "gpu",
    "tp": "tp",
    "instances": "num_instances",
    "sp_method": "sp_method",
    "horizon": "horizon",
    "decision_interval": "decision_interval",
}
_WORKLOAD_OPTIONS = ("num_requests", "duration", "rate_scale", "long_fraction", "ls_fraction")


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by commands that build a cluster and a workload (a scenario)."""
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        help="start from a named benchmark scenario (the options below override it)",
    )
    cluster = parser.add_argument_group("cluster")
    cluster.add_argument("--model", help="model (default: llama-3-8b)")
    cluster.add_argument("--gpu", help="GPU (default: a100)")
    cluster.add_argument("--tp", type=int, help="tensor parallelism per instance (default: 1)")
    cluster.add_argument("--instances", type=int, help="instances (default: 32)")
    cluster.add_argument(
        "--sp-method", choices=("ulysses", "ring"), help="sequence parallelism (default: ulysses)"
    )
    cluster.add_argument("--horizon", type=float, help="truncate after this many seconds")
    cluster.add_argument(
        "--decision-interval", type=float, help="decide every so many seconds (default: events)"
    )
    load = parser.add_argument_group("workload")
    load.add_argument(
        "--trace", help="Azure trace CSV (default: the synthetic conversation workload)"
    )
    load.add_argument(
        "--profile",
        default="conv",
        choices=("conv", "code"),
        help="synthetic profile when no --trace is given",
    )
    load.add_argument("--num-requests", type=int, help="requests (synthetic) or first N (trace)")
    load.add_argument("--duration", type=float, help="seconds of arrivals (a seeded window)")
    load.add_argument("--rate-scale", type=float, help="arrival-rate multiplier (default: 1)")
    load.add_argument(
        "--long-fraction",
        type=float,
        help="rescale the longest fraction of inputs into 100K-500K tokens",
    )
    load.add_argument("--ls-fraction", type=float, help="fraction labelled latency-sensitive")


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """The scenario the options describe: ``--scenario`` (or the defaults), then overrides."""
    if getattr(args, "scenario", None):
        base = get_scenario(args.scenario, args.trace)
    else:
        explicit = args.num_requests is not None or args.duration is not None
        base = Scenario(
            name="cli",
            workload=WorkloadSpec(
                source=args.trace or f"synthetic:{args.profile}",
                num_requests=None if args.trace or explicit else 2000,
            ),
            cluster=dict(CLUSTER_DEFAULTS),
        )
    cluster = {
        key: getattr(args, option)
        for option, key in _CLUSTER_OPTIONS.items()
        if getattr(args, option, None) is not None
    }
    workload = {
        name: getattr(args, name)
        for name in _WORKLOAD_OPTIONS
        if getattr(args, name, None) is not None
    }
    return base.with_cluster(**cluster).with_workload(**workload)


def config_from_args(args: argparse.Namespace) -> ClusterConfig:
    """The cluster configuration the options describe (before any policy override)."""
    cluster = scenario_from_args(args).cluster
    names = {f.name for f in dataclasses.fields(ClusterConfig)}
    return ClusterConfig(**{k: v for k, v in cluster.items() if k in names})


def workload_from_args(args: argparse.Namespace) -> WorkloadSpec:
    """The workload recipe the options describe."""
    return scenario_from_args(args).workload


def json_safe(value: Any) -> Any:
    """A JSON-serialisable version of a summary value (NaN becomes null)."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def run(args: argparse.Namespace) -> int:
    scenario = scenario_from_args(args)
    policy = baselines.get(args.policy)
    result = run_evaluation(
        [policy], scenario, [args.seed], requests=bool(args.requests_csv), progress=not args.quiet
    )
    summary = {k: json_safe(v) for k, v in result.summary.iloc[0].to_dict().items()}
    workload = scenario.workload.build(args.seed)
    summary.update(workload=workload.name)
    cluster = scenario.env_kwargs(policy)
    print(
        f"{policy.name} on {workload.name}: {len(workload)} requests, "
        f"{cluster['num_instances']} x {cluster['model']} on {cluster.get('tp', 1)} x "
        f"{cluster.get('gpu', 'a100')}, simulated through the env in "
        f"{summary['wall_time_s']:.2f} s ({summary['steps']} steps, "
        f"{summary['invalid_actions']} invalid)\n"
    )
    print(format_summary(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    if args.requests_csv:
        result.requests.to_csv(args.requests_csv, index=False)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a scheduling policy on a workload and print its metrics",
        description="Run a scheduling policy on a workload (through the env's actions) and "
        "print its metrics.",
    )
    parser.add_argument("--policy", default="fifo", help=f"one of: {', '.join(baselines.names())}")
    add_cluster_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="workload seed (default: 0)")
    parser.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    parser.add_argument("--requests-csv", metavar="PATH", help="write per-request metrics")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)
