"""``pecgym evaluate``: a saved or shipped agent on held-out seeds, the same table as compare."""

from __future__ import annotations

import argparse
import json

from pecgym.benchmark.harness import AGENT_PREFIX, Scenario
from pecgym.commands.compare import (
    _int_list,
    episode_records,
    policy_specs,
    report,
    resolve_all,
    table_records,
)
from pecgym.commands.options import add_config_arguments, overrides_from_args
from pecgym.outputs import output_file


def run(args: argparse.Namespace) -> int:
    spec = args.agent if args.agent.startswith(AGENT_PREFIX) else AGENT_PREFIX + args.agent
    others = policy_specs(args.baselines) if args.baselines else []
    agent, *baselines = resolve_all([spec, *others])
    env_id = args.env or agent.meta.get("env_id")
    if not env_id:
        raise ValueError(f"{args.agent} does not record its env id; name one with --env")
    json_path = output_file(args.json, "--json") if args.json else None
    scenario = Scenario.from_env_id(env_id, *overrides_from_args(args))
    seeds = args.seeds if args.seeds is not None else scenario.test_seeds
    result, table = report([agent, *baselines], scenario, seeds, quiet=args.quiet, requests=False)
    if json_path is not None:
        record = {
            "env_id": env_id,
            "seeds": list(seeds),
            "table": table_records(table),
            "episodes": episode_records(result.summary),
            "config": scenario.env_config(agent).to_dict(),
        }
        json_path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"\nwrote {json_path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained agent on held-out seeds",
        description="Run a saved agent (PATH.zip) or a shipped one (NAME) deterministically on "
        "its scenario's held-out test seeds, through the env's actions, and print the same "
        "table as compare (optionally beside heuristics).",
    )
    parser.add_argument("--agent", required=True, help="PATH.zip or a shipped agent's name")
    parser.add_argument("--env", help="env id (default: the one the agent was trained on)")
    parser.add_argument("--seeds", type=_int_list, help="comma-separated seeds (default: test)")
    parser.add_argument(
        "--baselines", default="", help="comma-separated policies to run beside, e.g. fifo,sjf"
    )
    parser.add_argument("--json", metavar="PATH", help="write the table and episodes as JSON")
    add_config_arguments(parser, scenario=False)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)
