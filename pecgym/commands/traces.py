"""``pecgym traces``: inspect workloads (Azure trace files or the synthetic generator)."""

from __future__ import annotations

import argparse
import json
import math

from pecgym.traces import DEFAULT_SHORT_THRESHOLD, format_trace_stats, load_workload, trace_stats


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``traces`` command and its ``info`` sub-command."""
    parser = subparsers.add_parser(
        "traces",
        help="inspect request traces",
        description="Inspect Azure LLM inference traces or the synthetic workload generator.",
    )
    actions = parser.add_subparsers(dest="traces_command", required=True, metavar="ACTION")
    info = actions.add_parser(
        "info",
        help="print summary statistics of a trace",
        description="Print request count, rate, burstiness and token-length statistics.",
    )
    info.add_argument(
        "path",
        metavar="PATH",
        help="an Azure trace CSV (optionally .gz), or synthetic:conv / synthetic:code",
    )
    info.add_argument("--json", action="store_true", help="print the figures as JSON")
    info.add_argument(
        "--threshold",
        type=int,
        default=DEFAULT_SHORT_THRESHOLD,
        help=f"inputs above this many tokens count as long (default {DEFAULT_SHORT_THRESHOLD})",
    )
    info.add_argument(
        "--num-requests",
        type=int,
        default=None,
        help="requests to generate for synthetic:* (default 2000)",
    )
    info.add_argument("--seed", type=int, default=0, help="seed for synthetic:* (default 0)")
    info.set_defaults(handler=_info)


def _json_safe(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else value


def _info(args: argparse.Namespace) -> int:
    workload = load_workload(args.path, num_requests=args.num_requests, seed=args.seed)
    stats = trace_stats(workload, threshold=args.threshold)
    if args.json:
        print(json.dumps({key: _json_safe(value) for key, value in stats.items()}, indent=2))
    else:
        print(format_trace_stats(stats))
    return 0
