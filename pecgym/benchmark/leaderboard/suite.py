"""Versioned leaderboard suites: which scenarios, which held-out seeds, which references.

A suite is data: the registered env ids it runs and how many of each scenario's held-out
test seeds (:meth:`~pecgym.envs.config.SeedConfig.test_seeds`). ``quick`` is the same suite
reduced for smoke tests (fewer seeds and requests); ``trace`` runs its scenarios on a
user's trace instead of the embedded synthetic workloads. A suite's results are only ever
compared within the same suite label (``v1``, ``v1-quick``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pecgym.benchmark.harness import Scenario
from pecgym.sim.config import ConfigError

RANDOM = "random"
"""The policy that scores 0 on the normalised scale."""

FIFO = "fifo"
"""The policy probabilities of improvement are measured against."""

QUICK_SUFFIX = "-quick"
"""What a reduced suite's label adds to the suite's name."""

REPS = 2000
"""Bootstrap resamples per interval."""

CONFIDENCE = 0.95
"""Coverage of every interval."""

REFERENCE_POLICIES = (RANDOM, FIFO)
"""Policies every leaderboard run includes: the normalised scale and the improvement
probabilities are defined by them."""


@dataclass(frozen=True)
class Suite:
    """A fixed set of scenarios evaluated on a fixed number of their test seeds.

    Attributes:
        name: the suite's version label (``"v1"``).
        env_ids: the scenarios, as registered env ids.
        seeds: how many of each scenario's held-out test seeds to run.
        quick_seeds: seeds per scenario of the reduced (``quick``) suite.
        quick_workload: workload overrides of the reduced suite, per scenario name
            (``"*"`` for all).
        description: what the suite measures.
    """

    name: str
    env_ids: tuple[str, ...]
    seeds: int = 10
    quick_seeds: int = 3
    quick_workload: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""

    def label(self, quick: bool = False) -> str:
        """The suite label results are recorded under."""
        return f"{self.name}{QUICK_SUFFIX}" if quick else self.name

    def scenarios(self, *, quick: bool = False, trace: str | Path | None = None) -> list[Scenario]:
        """The suite's scenarios, each with its evaluation seeds fixed (the first
        :attr:`seeds` or :attr:`quick_seeds` of its test range)."""
        scenarios = []
        for env_id in self.env_ids:
            layers: list[dict[str, Any]] = []
            name = env_id.removeprefix("pecgym/")
            if quick:
                for key in ("*", name):
                    if key in self.quick_workload:
                        layers.append({"workload": self.quick_workload[key]})
            if trace is not None:
                path = Path(trace)
                if not path.is_file():
                    raise FileNotFoundError(f"--trace: {path} is not a file")
                layers.append({"workload": {"source": str(path)}})
            scenario = Scenario.from_env_id(env_id, *layers)
            count = self.quick_seeds if quick else self.seeds
            start = scenario.config.seeds.test[0]
            scenario = scenario.merged({"seeds": {"test": (start, start + count)}})
            scenarios.append(scenario)
        return scenarios


SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            "v1",
            (
                "pecgym/ConvBusy-v1",
                "pecgym/LongMix-v1",
                "pecgym/CodeBursty-v1",
                "pecgym/LSMix-v1",
            ),
            seeds=10,
            quick_seeds=3,
            quick_workload={"*": {"num_requests": 64}, "LongMix-v1": {"num_requests": 128}},
            description="The four Env v1 benchmark scenarios on their first 10 held-out "
            "test seeds: a conversation burst, PecSched-style long inputs, bursty code "
            "traffic, and QLLM-style latency-sensitive and best-effort classes.",
        ),
    )
}
"""The leaderboard suites by version label."""


def suite_of_label(label: str) -> Suite | None:
    """The suite a results label (``"v1"``, ``"v1-quick"``) belongs to, if known."""
    return SUITES.get(label.removesuffix(QUICK_SUFFIX))


def get_suite(name: str) -> Suite:
    """A suite by label (``"v1"``); an unknown one is a :class:`ConfigError` naming the known."""
    try:
        return SUITES[name]
    except KeyError:
        raise ConfigError(f"unknown suite {name!r}; known: {', '.join(SUITES)}") from None
