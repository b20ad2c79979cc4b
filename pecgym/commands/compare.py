"""``pecgym compare``: several policies on the same workloads and seeds; table, files, plots."""

from __future__ import annotations

import argparse
import json

import pandas as pd

from pecgym import baselines
from pecgym.benchmark.harness import (
    TABLE_METRICS,
    comparison_table,
    resolve_policy,
    run_evaluation,
)
from pecgym.commands.options import add_config_arguments, scenario_from_args
from pecgym.commands.simulate import json_safe
from pecgym.outputs import output_dir


def _int_list(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def format_table(table: pd.DataFrame) -> str:
    """The comparison table with readable column names."""
    shown = table[[c for c in TABLE_METRICS if c in table.columns]]
    shown = shown.rename(columns=TABLE_METRICS)
    return shown.to_string(float_format=lambda v: f"{v:.4g}", na_rep="-")


def policy_specs(text: str) -> list[str]:
    """The comma-separated policy specs of an option (an error if there are none)."""
    specs = [p.strip() for p in text.split(",") if p.strip()]
    if not specs:
        raise ValueError("--policies names no policy")
    return specs


def resolve_all(specs: list[str]) -> list:
    """Every policy of ``specs``, resolved before any work starts (heuristic names,
    ``agent:NAME`` or ``agent:PATH.zip``)."""
    return [resolve_policy(spec) for spec in specs]


def report(policies: list, scenario, seeds: list[int], *, quiet: bool, requests: bool):
    """Run ``policies`` on ``scenario``'s ``seeds``, print the table; returns the
    evaluation and the table."""
    result = run_evaluation(policies, scenario, seeds, requests=requests, progress=not quiet)
    table = comparison_table(result.summary)
    print(
        f"{scenario.name}: {len(policies)} policies x seeds {seeds} "
        f"({scenario.description or scenario.workload.source})\n"
    )
    print(format_table(table))
    return result, table


def table_records(table: pd.DataFrame) -> dict:
    """The table as JSON-ready records keyed by policy."""
    return {policy: {k: json_safe(v) for k, v in row.items()} for policy, row in table.iterrows()}


def episode_records(summary: pd.DataFrame) -> list[dict]:
    """The per-episode rows as JSON-ready records."""
    return [{k: json_safe(v) for k, v in row.items()} for row in summary.to_dict("records")]


def run(args: argparse.Namespace) -> int:
    from pecgym.benchmark.plots import plot_delay_cdf, plot_metrics  # matplotlib: when run

    policies = resolve_all(policy_specs(args.policies))
    scenario = scenario_from_args(args)
    seeds = args.seeds if args.seeds is not None else scenario.test_seeds
    out = output_dir(args.out)
    result, table = report(policies, scenario, seeds, quiet=args.quiet, requests=True)
    result.summary.to_csv(out / "runs.csv", index=False)
    table.to_csv(out / "table.csv")
    (out / "table.json").write_text(json.dumps(table_records(table), indent=2) + "\n")
    (out / "runs.json").write_text(json.dumps(episode_records(result.summary), indent=2) + "\n")
    if args.requests_csv:
        result.requests.to_csv(out / "requests.csv.gz", index=False)
    (out / "config.json").write_text(json.dumps(scenario.config.to_dict(), indent=2) + "\n")
    title = f"{scenario.name}, seeds {','.join(map(str, seeds))}"
    plot_delay_cdf(result.requests, out / "short_queueing_cdf.png", title=title)
    plot_metrics(table, out / "metrics.png", title=title)
    print(f"\nwrote {out}/table.csv, table.json, runs.csv, runs.json, config.json, *.png")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare policies on the same workloads and seeds",
        description="Run several policies on the same workloads and seeds (through the env's "
        "actions); print one table, write it as CSV and JSON, and plot it.",
    )
    parser.add_argument(
        "--policies",
        default="fifo,priority,reservation,pecsched",
        help=f"comma-separated: {', '.join(baselines.names())}, agent:NAME (a shipped "
        "agent) or agent:PATH.zip (a saved one)",
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--seeds",
        type=_int_list,
        help="comma-separated seeds (default: the scenario's test seeds)",
    )
    parser.add_argument("--out", default="compare-out", help="output directory")
    parser.add_argument(
        "--requests-csv", action="store_true", help="also write every request (requests.csv.gz)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)
