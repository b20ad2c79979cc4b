"""Running a leaderboard into a folder and writing its outputs.

:func:`run_leaderboard` plans what ``out`` lacks, runs it (batched seeds; local processes or
Ray), then :func:`write_outputs` rebuilds ``summary.csv``, ``leaderboard.md``, the plots and
the TensorBoard runs from ``episodes.csv`` alone.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pecgym import __version__
from pecgym.benchmark.leaderboard.entries import (
    Entry,
    check_unique,
    default_specs,
    make_entry,
    with_references,
)
from pecgym.benchmark.leaderboard.ranking import normalized, references, summarize
from pecgym.benchmark.leaderboard.records import EpisodeLog
from pecgym.benchmark.leaderboard.report import (
    INTERVALS_PLOT,
    PROFILE_PLOT,
    TENSORBOARD_DIR,
    plot_intervals,
    plot_profile,
    write_markdown,
    write_tensorboard,
)
from pecgym.benchmark.leaderboard.runner import execute, import_ray, plan
from pecgym.benchmark.leaderboard.suite import REPS, get_suite, suite_of_label
from pecgym.outputs import output_dir

SUMMARY_FILE = "summary.csv"
TABLE_FILE = "leaderboard.md"
RUN_FILE = "run.json"


@dataclass
class Leaderboard:
    """What a leaderboard folder holds for one suite: its episodes and their summary."""

    folder: Path
    suite: str
    episodes: pd.DataFrame
    summary: pd.DataFrame
    recorded: int = 0


def run_leaderboard(
    suite: str = "v1",
    policies: Sequence[str | Entry] | None = None,
    *,
    out: str | Path,
    quick: bool = False,
    trace: str | Path | None = None,
    workers: int = 1,
    use_ray: bool = False,
    ray_address: str | None = None,
    progress: bool = True,
    reps: int = REPS,
    batch: bool = True,
) -> Leaderboard:
    """Complete ``out``'s records of ``suite`` for ``policies`` (default: every heuristic
    and shipped agent; random and FIFO are always added), then write the outputs.

    Everything is checked before any work (suite, policies, agent files, the output folder,
    Ray). Ctrl-C keeps every finished episode and still writes the outputs of what is
    recorded; a rerun resumes. ``batch=False`` runs each seed on its own (for benchmarks).
    """
    spec = get_suite(suite)
    if use_ray:
        import_ray()
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if reps < 100:
        raise ValueError(f"--reps must be at least 100, got {reps}")
    chosen = default_specs() if policies is None else list(policies)
    if not chosen:
        raise ValueError("--policies names no policy")
    entries = with_references([p if isinstance(p, Entry) else make_entry(p) for p in chosen])
    check_unique(entries)
    label = spec.label(quick)
    scenarios = spec.scenarios(quick=quick, trace=trace)
    folder = output_dir(out)
    jobs = plan(label, entries, scenarios, folder, batch=batch)
    _write_run(folder, label, entries, scenarios, trace)
    recorded = 0
    try:
        recorded = execute(
            jobs,
            folder,
            workers=workers,
            use_ray=use_ray,
            ray_address=ray_address,
            progress=progress,
        )
    finally:
        board = write_outputs(folder, label, reps=reps)
    board.recorded = recorded
    return board


def write_outputs(folder: str | Path, suite: str, *, reps: int = REPS) -> Leaderboard:
    """Rebuild ``summary.csv``, ``leaderboard.md``, the plots and the TensorBoard runs of
    ``suite`` from ``folder/episodes.csv``."""
    folder = Path(folder)
    episodes = canonical_order(EpisodeLog(folder).load(), suite)
    summary = summarize(episodes, reps=reps)
    if not episodes.empty:
        refs = references(episodes)
        summary.to_csv(folder / SUMMARY_FILE, index=False)
        write_markdown(summary, refs, folder / TABLE_FILE, f"pecgym leaderboard, suite {suite}")
        plot_intervals(summary, folder / INTERVALS_PLOT)
        scored = episodes.assign(normalized=normalized(episodes, refs))
        plot_profile(scored, folder / PROFILE_PLOT, reps=reps)
        write_tensorboard(summary, folder / TENSORBOARD_DIR)
    return Leaderboard(folder, suite, episodes, summary)


def canonical_order(episodes: pd.DataFrame, suite: str) -> pd.DataFrame:
    """The episodes of ``suite`` sorted by the suite's scenario order, policy and seed, so
    the summary (and its seeded bootstraps) does not depend on the order jobs finished in."""
    episodes = episodes[episodes["suite"] == suite]
    known = suite_of_label(suite)
    order = [env_id.removeprefix("pecgym/") for env_id in known.env_ids] if known else []
    rank = {name: i for i, name in enumerate(order)}
    position = episodes["scenario"].map(lambda name: rank.get(name, len(rank)))
    episodes = episodes.assign(_position=position)
    episodes = episodes.sort_values(["_position", "scenario", "policy", "seed"], kind="stable")
    return episodes.drop(columns="_position").reset_index(drop=True)


def _write_run(folder: Path, suite: str, entries, scenarios, trace) -> None:
    """``run.json``: what the last run asked for, beside its results."""
    record = {
        "suite": suite,
        "pecgym_version": __version__,
        "trace": None if trace is None else str(trace),
        "policies": [dataclasses.asdict(entry) for entry in entries],
        "scenarios": {s.name: s.config.to_dict() for s in scenarios},
    }
    (folder / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n")
