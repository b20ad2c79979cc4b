"""The ``pecgym`` command line: one sub-command per module in :mod:`pecgym.commands`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = (
    "traces",
    "costmodel",
    "simulate",
    "train",
    "evaluate",
    "compare",
    "leaderboard",
)
"""Modules of :mod:`pecgym.commands`; each has ``register(subparsers)``."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="pecgym",
        description="Simulate and benchmark LLM-inference scheduling on GPU clusters.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"pecgym.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code.

    One policy for every command: a user error (a ``ValueError`` or a missing file, raised
    before any work starts) is one line on stderr and exit code 2; Ctrl-C exits 130 (each
    command saves what it finished first); output piped into a reader that stops (``|
    head``) ends quietly.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except (ValueError, FileNotFoundError) as error:
        print(f"pecgym {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pecgym {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader is gone: silence the flush at exit, and exit as a pipe writer would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
