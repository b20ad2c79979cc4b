"""Leaderboard submissions: a folder with an agent, its training recipe and a README whose
front matter states the pecgym version, the training budget, whether the env was modified
and whether evaluation is deterministic (:data:`TEMPLATE`)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pecgym import __version__
from pecgym.benchmark.leaderboard.entries import Entry, make_entry

TEMPLATE = Path(__file__).with_name("submission_template.md")
"""The README template of a submission."""

AGENT_FILE = "agent.zip"
RECIPE_FILE = "training.yaml"
README_FILE = "README.md"

FIELDS: dict[str, type] = {
    "name": str,
    "pecgym_version": str,
    "suite": str,
    "budget": dict,
    "env_modified": bool,
    "deterministic": bool,
}
"""The README front matter's required fields and their types."""


@dataclass(frozen=True)
class Submission:
    """A checked submission folder."""

    folder: Path
    card: dict[str, Any]

    @property
    def name(self) -> str:
        return self.card["name"]

    def entry(self) -> Entry:
        """The leaderboard entry of its agent (named after the submission; an agent trained
        on a modified env is labelled so)."""
        label = f"{self.name} (modified env)" if self.card["env_modified"] else self.name
        spec = f"agent:{(self.folder / AGENT_FILE).resolve()}"
        return make_entry(spec, label, env_modified=self.card["env_modified"])


def load_submission(folder: str | Path) -> Submission:
    """Check a submission folder (files, front matter fields and types, the agent file);
    every problem is a ``ValueError`` naming the file and field."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--submission: {folder} is not a folder")
    for name in (AGENT_FILE, RECIPE_FILE, README_FILE):
        if not (folder / name).is_file():
            raise ValueError(f"--submission: {folder} has no {name}")
    card = front_matter(folder / README_FILE)
    for field, kind in FIELDS.items():
        if field not in card or card[field] is None:
            raise ValueError(f"{folder / README_FILE}: front matter lacks {field!r}")
        if not isinstance(card[field], kind):
            raise ValueError(f"{folder / README_FILE}: {field!r} must be a {kind.__name__}")
    if not re.fullmatch(r"[\w.-]+", card["name"]):
        raise ValueError(
            f"{folder / README_FILE}: name {card['name']!r} must be letters, digits, - _ ."
        )
    if not isinstance(card["budget"].get("timesteps"), int):
        raise ValueError(f"{folder / README_FILE}: budget.timesteps must be an integer")
    try:
        yaml.safe_load((folder / RECIPE_FILE).read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{folder / RECIPE_FILE} is not YAML: {error}") from None
    submission = Submission(folder, card)
    submission.entry()  # the agent file loads
    return submission


def front_matter(path: Path) -> dict[str, Any]:
    """The YAML between the leading ``---`` lines of a Markdown file."""
    text = path.read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not match:
        raise ValueError(f"{path}: no front matter (a block between --- lines at the top)")
    try:
        card = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: front matter is not YAML: {error}") from None
    if not isinstance(card, dict):
        raise ValueError(f"{path}: front matter is not a mapping")
    return card


def init_submission(agent: str | Path, folder: str | Path, name: str) -> Path:
    """A submission folder for a saved agent: the agent, its run's recipe (``recipe.yaml``
    beside it, if any) and the README template filled with what the agent records."""
    from pecgym.agents.zoo import agent_path, load_model

    source = agent_path(str(agent))
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"--out: {folder} is not empty")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / AGENT_FILE)
    meta = getattr(load_model(source), "pecgym_meta", None) or {}
    recipe = source.parent / "recipe.yaml"
    text = recipe.read_text() if recipe.exists() else yaml.safe_dump(meta.get("recipe") or {})
    (folder / RECIPE_FILE).write_text(text)
    timesteps = int((meta.get("recipe") or {}).get("timesteps") or 0)
    version = meta.get("pecgym_version") or __version__
    readme = TEMPLATE.read_text().format(name=name, version=version, timesteps=timesteps)
    (folder / README_FILE).write_text(readme)
    return folder
