"""The leaderboard's records: ``episodes.csv`` (one row per policy, scenario and seed) and
the resolved configs its rows point at (``configs/<digest>.json``).

Rows are appended as episodes finish, so an interrupted run keeps every finished episode
and a rerun skips them (:func:`~pecgym.benchmark.leaderboard.runner.plan`). Floats are
written at full precision: a row is a replayable record
(:mod:`pecgym.benchmark.leaderboard.replay`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pecgym.benchmark.harness import EPISODE_COLUMNS
from pecgym.envs.config import EnvConfig

IDENTITY_COLUMNS = (
    "suite",
    "scenario",
    "policy",
    "policy_spec",
    "policy_digest",
    "seed",
    "objective_name",
    "objective",
    "completed",
    "requests",
)
"""What an episode is and how it scored: the leading columns of ``episodes.csv``."""

RUN_COLUMNS = ("pecgym_version", "config_digest", "max_steps", "batch_size", "wall_time_s")
"""How it was run: the trailing columns."""

COLUMNS = (
    *IDENTITY_COLUMNS,
    *(c for c in EPISODE_COLUMNS if c not in IDENTITY_COLUMNS and c not in RUN_COLUMNS),
    *RUN_COLUMNS,
)
"""Every column of ``episodes.csv``, in order."""

TEXT_COLUMNS = (
    "suite",
    "scenario",
    "policy",
    "policy_spec",
    "policy_digest",
    "objective_name",
    "workload_source",
    "pecgym_version",
    "config_digest",
)
"""Columns read back as text (a hex digest of digits only must stay a string)."""

NOT_REPLAYED = ("wall_time_s", "batch_size")
"""Columns that describe the run rather than the episode (a replay need not match them)."""

EPISODES_FILE = "episodes.csv"
CONFIGS_DIR = "configs"


class EpisodeLog:
    """``episodes.csv`` in a leaderboard folder: append finished episodes, read them back."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / EPISODES_FILE

    def load(self) -> pd.DataFrame:
        """Every recorded episode (an empty frame with the columns if there is none)."""
        if not self.path.exists():
            return pd.DataFrame(columns=list(COLUMNS))
        try:
            frame = pd.read_csv(self.path, dtype=dict.fromkeys(TEXT_COLUMNS, str))
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise ValueError(f"{self.path} is not a leaderboard episode log: {error}") from None
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(
                f"{self.path} is not a leaderboard episode log of this version: it lacks "
                f"{', '.join(missing)}; write to a new --out folder"
            )
        return frame

    def append(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append ``records`` (dicts with at least :data:`COLUMNS`' keys, extras ignored) and
        flush them to disk; returns how many were written."""
        rows = [[cell(record.get(column)) for column in COLUMNS] for record in records]
        if not rows:
            return 0
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(COLUMNS)
            writer.writerows(rows)
            handle.flush()
        return len(rows)


def cell(value: Any) -> Any:
    """A CSV cell: floats at full precision (``repr`` round-trips), None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "item"):  # numpy scalars
        return cell(value.item())
    return value


def save_config(folder: str | Path, config: EnvConfig) -> str:
    """Write ``config`` as ``configs/<digest>.json`` (once) and return its digest."""
    digest = config.digest()
    path = Path(folder) / CONFIGS_DIR / f"{digest}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
    return digest


def load_config(folder: str | Path, digest: str) -> EnvConfig:
    """The config a row ran on, from its digest."""
    path = Path(folder) / CONFIGS_DIR / f"{digest}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: the config of this record is missing")
    config = EnvConfig.build(json.loads(path.read_text()))
    if config.digest() != digest:
        raise ValueError(f"{path} no longer resolves to digest {digest} (edited?)")
    return config
