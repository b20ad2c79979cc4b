"""``pecgym leaderboard``: the suite for a set of policies on held-out seeds; ``replay`` one
recorded episode; ``init-submission`` a submission folder for a saved agent."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pecgym.benchmark.leaderboard.suite import REPS, SUITES
from pecgym.commands.compare import policy_specs


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from pecgym.benchmark.leaderboard.board import run_leaderboard
    from pecgym.benchmark.leaderboard.report import leaderboard_table
    from pecgym.benchmark.leaderboard.submission import load_submission

    policies: list | None = policy_specs(args.policies) if args.policies is not None else None
    if args.submission:
        entries = [load_submission(folder).entry() for folder in args.submission]
        policies = [*(policies or []), *entries]
    interrupted = False
    try:
        board = run_leaderboard(
            args.suite,
            policies,
            out=args.out,
            quick=args.quick,
            trace=args.trace,
            workers=args.workers,
            use_ray=args.ray is not None,
            ray_address=args.ray or None,
            progress=not args.quiet,
            reps=args.reps,
        )
    except KeyboardInterrupt:
        interrupted = True
        board = None
    if board is not None and not board.summary.empty:
        with pd.option_context("display.width", 250, "display.max_columns", 20):
            print(f"\npecgym leaderboard, suite {board.suite} ({len(board.episodes)} episodes)\n")
            print(leaderboard_table(board.summary).to_string(index=False))
        print(
            f"\nwrote {args.out}/episodes.csv, summary.csv, leaderboard.md, intervals.png, "
            f"performance_profile.png, tensorboard/ (tensorboard --logdir {args.out}/tensorboard)"
        )
    if interrupted:
        print(
            f"pecgym leaderboard: interrupted; finished episodes are in {args.out}/episodes.csv "
            "and a rerun resumes",
            file=sys.stderr,
        )
        return 130
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from pecgym.benchmark.leaderboard.replay import replay

    result = replay(args.folder, args.row)
    rec = result.recorded
    print(
        f"row {args.row}: {rec['policy']} on {rec['scenario']}, seed {rec['seed']} "
        f"(suite {rec['suite']}, config {rec['config_digest']})"
    )
    if result.mismatches:
        for column in result.mismatches:
            print(
                f"  {column}: recorded {result.recorded[column]}, "
                f"replayed {result.replayed[column]}"
            )
        print(f"MISMATCH in {len(result.mismatches)} of {len(result.compared)} columns")
        return 1
    print(
        f"objective {result.replayed['objective']}, completed {result.replayed['completed']} of "
        f"{result.replayed['requests']}: all {len(result.compared)} recorded columns match "
        "bit for bit"
    )
    return 0


def run_init(args: argparse.Namespace) -> int:
    from pecgym.benchmark.leaderboard.submission import init_submission

    folder = init_submission(args.agent, args.out, args.name)
    print(f"wrote {folder}/agent.zip, training.yaml, README.md: fill in README.md's front matter")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``leaderboard`` command and its ``replay`` and ``init-submission`` actions."""
    parser = subparsers.add_parser(
        "leaderboard",
        help="run a benchmark suite for many policies on held-out seeds",
        description="Run a versioned suite of scenarios for a set of policies on each "
        "scenario's held-out seeds (batched), and write episodes.csv, summary.csv (IQM with "
        "bootstrap intervals, probability of improvement over FIFO, normalised score), "
        "leaderboard.md, plots and TensorBoard runs. Reruns resume.",
    )
    parser.add_argument("--suite", default="v1", choices=sorted(SUITES), help="suite version")
    parser.add_argument(
        "--policies",
        help="comma-separated policies (default: every heuristic and shipped agent); random "
        "and fifo are always added",
    )
    parser.add_argument(
        "--submission",
        action="append",
        default=[],
        metavar="DIR",
        help="a submission folder to evaluate (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="the reduced suite (smoke tests)")
    parser.add_argument("--trace", metavar="PATH", help="run the suite's scenarios on this trace")
    parser.add_argument("--out", default="leaderboard-out", metavar="DIR", help="output folder")
    parser.add_argument("--workers", type=int, default=1, help="local processes")
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run the jobs on Ray (a local cluster, or the one at ADDRESS)",
    )
    parser.add_argument("--reps", type=int, default=REPS, help="bootstrap resamples")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    again = actions.add_parser(
        "replay",
        help="re-run one recorded episode and compare it bit for bit",
        description="Re-run row N of DIR/episodes.csv from its record and compare every "
        "column as written (exit 1 on any difference).",
    )
    again.add_argument("--row", type=int, required=True, help="0-based row of episodes.csv")
    again.add_argument("folder", type=Path, metavar="DIR", help="a leaderboard --out folder")
    again.set_defaults(handler=run_replay)
    init = actions.add_parser(
        "init-submission",
        help="make a submission folder for a saved agent",
        description="Copy a saved agent and its run's recipe into a new submission folder "
        "with the README template filled in.",
    )
    init.add_argument("--agent", required=True, help="PATH.zip of a saved agent")
    init.add_argument("--name", required=True, help="the submission's leaderboard name")
    init.add_argument("--out", required=True, metavar="DIR", help="the new folder")
    init.set_defaults(handler=run_init)
