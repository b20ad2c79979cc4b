"""``pecgym simulate``: run one policy on one workload and report the metrics."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from pecgym import baselines
from pecgym.sim.config import ClusterConfig
from pecgym.sim.metrics import format_summary, request_frame, summarize
from pecgym.sim.simulator import ClusterSim
from pecgym.traces.spec import WorkloadSpec


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by commands that build a cluster and a workload."""
    cluster = parser.add_argument_group("cluster")
    cluster.add_argument("--model", default="llama-3-8b", help="model (default: llama-3-8b)")
    cluster.add_argument("--gpu", default="a100", help="GPU (default: a100)")
    cluster.add_argument("--tp", type=int, default=1, help="tensor parallelism per instance")
    cluster.add_argument("--instances", type=int, default=32, help="instances (default: 32)")
    cluster.add_argument("--sp-method", choices=("ulysses", "ring"), default="ulysses")
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
    load.add_argument("--rate-scale", type=float, default=1.0, help="arrival-rate multiplier")
    load.add_argument(
        "--long-fraction",
        type=float,
        help="rescale the longest fraction of inputs into 100K-500K tokens",
    )
    load.add_argument("--ls-fraction", type=float, help="fraction labelled latency-sensitive")
    load.add_argument("--seed", type=int, default=0, help="workload seed (default: 0)")


def config_from_args(args: argparse.Namespace) -> ClusterConfig:
    """The cluster configuration the options describe."""
    return ClusterConfig(
        model=args.model,
        gpu=args.gpu,
        tp=args.tp,
        num_instances=args.instances,
        sp_method=args.sp_method,
        horizon=args.horizon,
        decision_interval=args.decision_interval,
    )


def workload_from_args(args: argparse.Namespace) -> WorkloadSpec:
    """The workload recipe the options describe."""
    num_requests = args.num_requests
    if args.trace is None and num_requests is None and args.duration is None:
        num_requests = 2000
    return WorkloadSpec(
        source=args.trace or f"synthetic:{args.profile}",
        num_requests=num_requests,
        duration=args.duration,
        rate_scale=args.rate_scale,
        long_fraction=args.long_fraction,
        ls_fraction=args.ls_fraction,
    )


def _json_safe(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    workload = workload_from_args(args).build(args.seed)
    policy = baselines.get(args.policy)
    sim = ClusterSim(config, [workload])
    started = time.perf_counter()
    baselines.run_policy(sim, policy, progress=not args.quiet)
    elapsed = time.perf_counter() - started
    frame = request_frame(sim, 0)
    summary = summarize(sim, 0, frame)
    summary.update(policy=policy.name, workload=workload.name, wall_time_s=elapsed)
    print(
        f"{policy.name} on {workload.name}: {len(workload)} requests, {config.num_instances} "
        f"x {config.model} on {config.tp} x {config.gpu}, simulated in {elapsed:.2f} s\n"
    )
    print(format_summary(summary))
    if args.json:
        Path(args.json).write_text(
            json.dumps({k: _json_safe(v) for k, v in summary.items()}, indent=2) + "\n"
        )
    if args.requests_csv:
        frame.to_csv(args.requests_csv)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a scheduling policy on a workload and print its metrics",
        description="Run a scheduling policy on a workload and print its metrics.",
    )
    parser.add_argument("--policy", default="fifo", help=f"one of: {', '.join(baselines.names())}")
    add_cluster_arguments(parser)
    parser.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    parser.add_argument("--requests-csv", metavar="PATH", help="write per-request metrics")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)
