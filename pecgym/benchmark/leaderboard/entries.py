"""Leaderboard entries: the policies a run compares, resolved and checked before any work.

An entry is a policy spec that any process (or Ray worker) can resolve again: a heuristic's
name, ``agent:NAME`` for a shipped agent, ``agent:/ABS/PATH.zip`` for a saved one. It
carries a digest of the agent's file, so a record can tell whether the agent it names is
still the one that ran, and the scenarios of a suite it fits (an agent runs where its
observation and action spaces are the ones it learned).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pecgym import __version__, baselines
from pecgym.benchmark.harness import AGENT_PREFIX, Scenario, resolve_policy
from pecgym.benchmark.leaderboard.suite import RANDOM, REFERENCE_POLICIES
from pecgym.envs.core import SchedCore
from pecgym.envs.policy import reads


@dataclass(frozen=True)
class Entry:
    """One policy of a leaderboard run.

    Attributes:
        name: its row label (unique within a run).
        spec: what resolves it (:func:`~pecgym.benchmark.harness.resolve_policy`).
        digest: a hash of the agent's file, or ``pecgym-<version>`` for a heuristic.
        kind: ``"random"``, ``"heuristic"`` or ``"agent"``.
        env_modified: a submission that declares it trained on a modified env.
    """

    name: str
    spec: str
    digest: str
    kind: str
    env_modified: bool = False

    def resolve(self) -> Any:
        """The policy object (a fresh one: safe to call in a worker process)."""
        return resolve_policy(self.spec)


def kind_of(spec: str) -> str:
    """``"random"``, ``"agent"`` or ``"heuristic"``: what a policy spec names."""
    if spec == RANDOM:
        return "random"
    return "agent" if spec.startswith(AGENT_PREFIX) else "heuristic"


def file_digest(path: str | Path) -> str:
    """A short hash of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def make_entry(spec: str, name: str | None = None, *, env_modified: bool = False) -> Entry:
    """The entry of a policy spec (an unknown heuristic or a file that is not an agent is
    a ``ValueError`` naming it)."""
    spec = spec.strip()
    if spec.startswith(AGENT_PREFIX):
        from pecgym.agents.zoo import agent_path, algo_of, names

        target = spec[len(AGENT_PREFIX) :]
        path = agent_path(target)
        algo_of(path)  # a clear error if the file is not a saved agent
        shipped = target in names()
        resolvable = spec if shipped else AGENT_PREFIX + str(path.resolve())
        label = name or (spec if shipped else f"{AGENT_PREFIX}{path.stem}")
        return Entry(label, resolvable, file_digest(path), kind_of(spec), env_modified)
    baselines.get(spec)  # a clear error naming the known policies
    return Entry(name or spec, spec, f"pecgym-{__version__}", kind_of(spec), env_modified)


def default_specs() -> list[str]:
    """Every heuristic and every shipped agent."""
    from pecgym.agents.zoo import names

    return [*baselines.names(), *(f"{AGENT_PREFIX}{name}" for name in names())]


def with_references(entries: Sequence[Entry]) -> list[Entry]:
    """``entries`` with the reference policies (random, FIFO) first if they are missing."""
    present = {entry.spec for entry in entries}
    missing = [make_entry(spec) for spec in REFERENCE_POLICIES if spec not in present]
    return [*missing, *entries]


def check_unique(entries: Sequence[Entry]) -> None:
    """Each entry's name must be unique."""
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise ValueError(f"policy {entry.name!r} is named twice")
        seen.add(entry.name)


def fitting_scenarios(policy: Any, scenarios: Sequence[Scenario]) -> list[Scenario]:
    """The scenarios ``policy`` can run on: all for a heuristic; for an agent, those whose
    observation and action spaces are the ones it learned."""
    bind = getattr(policy, "bind", None)
    if "observation" not in reads(policy) or not callable(bind):
        return list(scenarios)
    fits = []
    for scenario in scenarios:
        try:
            bind(SchedCore(1, scenario.env_config(policy)))
        except ValueError:
            continue
        fits.append(scenario)
    return fits
