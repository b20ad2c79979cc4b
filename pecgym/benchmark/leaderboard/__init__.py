"""The leaderboard: a versioned suite of scenarios, every policy on each scenario's held-out
seeds, sound statistics, replayable records, plots and TensorBoard.

Modules: :mod:`~.suite` (what runs), :mod:`~.entries` (the policies), :mod:`~.runner`
(jobs, processes, Ray), :mod:`~.records` (``episodes.csv``), :mod:`~.ranking` (statistics),
:mod:`~.report` (table, plots, TensorBoard), :mod:`~.replay`, :mod:`~.submission`, and
:mod:`~.board` (:func:`run_leaderboard`, :func:`write_outputs`). Names are imported on first
use, so ``import pecgym.benchmark.leaderboard`` stays light for the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Leaderboard": "board",
    "run_leaderboard": "board",
    "write_outputs": "board",
    "SUITES": "suite",
    "Suite": "suite",
    "get_suite": "suite",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
