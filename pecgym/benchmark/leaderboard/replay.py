"""Replaying a leaderboard record: one row of ``episodes.csv`` run again from what it
records (policy spec, config digest, seed, step cap), compared cell by cell as written."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pecgym import __version__
from pecgym.benchmark.harness import resolve_policy
from pecgym.benchmark.leaderboard.entries import file_digest, kind_of
from pecgym.benchmark.leaderboard.records import (
    COLUMNS,
    EPISODES_FILE,
    NOT_REPLAYED,
    cell,
    load_config,
)
from pecgym.benchmark.rollout import rollout


@dataclass
class Replay:
    """A recorded row, its replay (both as the CSV cells they are written as), and the
    columns where they differ."""

    row: int
    recorded: dict[str, str]
    replayed: dict[str, str]

    @property
    def compared(self) -> list[str]:
        return [c for c in COLUMNS if c not in NOT_REPLAYED]

    @property
    def mismatches(self) -> list[str]:
        return [c for c in self.compared if self.recorded[c] != self.replayed[c]]


def read_row(folder: str | Path, row: int) -> dict[str, str]:
    """Row ``row`` (0-based, header excluded) of ``folder/episodes.csv``, as written."""
    path = Path(folder) / EPISODES_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: not a leaderboard folder")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not 0 <= row < len(rows):
        raise ValueError(f"--row {row}: {path} has rows 0 to {len(rows) - 1}")
    return rows[row]


def replay(folder: str | Path, row: int) -> Replay:
    """Run the episode of row ``row`` again, alone, and return both versions of it."""
    recorded = read_row(folder, row)
    spec = recorded["policy_spec"]
    if kind_of(spec) == "agent":
        from pecgym.agents.zoo import agent_path

        found = file_digest(agent_path(spec.split(":", 1)[1]))
        if found != recorded["policy_digest"]:
            raise ValueError(
                f"row {row}: the agent file of {spec} changed since it ran "
                f"(digest {found}, recorded {recorded['policy_digest']})"
            )
    config = load_config(folder, recorded["config_digest"])
    max_steps = int(recorded["max_steps"]) if recorded["max_steps"] else None
    labels = {key: recorded[key] for key in ("suite", "scenario", "policy")}
    episode = rollout(
        resolve_policy(spec), config, [int(recorded["seed"])], max_steps=max_steps, labels=labels
    ).episodes[0]
    episode.update(
        {key: recorded[key] for key in ("policy_spec", "policy_digest")},
        pecgym_version=__version__,
        max_steps=max_steps,
    )
    replayed = {column: str(cell(episode.get(column))) for column in COLUMNS}
    return Replay(row, recorded, replayed)
