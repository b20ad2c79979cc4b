"""The benchmark scenarios: each is a registered env id ``pecgym/<Name>-v1`` and a set of
settings deep-merged onto the :class:`~pecgym.envs.config.EnvConfig` defaults.

Every scenario declares its primary objective (``reward.objective``) and has a training
seed range and a disjoint held-out test seed range (``seeds``: the defaults of
:class:`~pecgym.envs.config.SeedConfig` unless a scenario sets its own). It runs on the
embedded synthetic workloads by default or on a user's trace (``workload={"source": PATH,
...}``). The load of each is set where FIFO, SJF, PecSched and random differ on the
objective; the figures measured on the test seeds are in ``docs/scenarios.md``
(``python scripts/scenario_table.py`` regenerates them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pecgym.envs.config import EnvConfig
from pecgym.sim.config import ConfigError

NAMESPACE = "pecgym"


@dataclass(frozen=True)
class ScenarioSpec:
    """A named scenario: its settings (nested overrides of the defaults) and what it shows."""

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def env_id(self) -> str:
        return f"{NAMESPACE}/{self.name}"

    def config(self, *layers: Mapping[str, Any] | EnvConfig | None) -> EnvConfig:
        """The scenario's resolved config, with ``layers`` deep-merged on top."""
        return EnvConfig.build(self.settings, *layers)


SCENARIOS: dict[str, ScenarioSpec] = {
    spec.name: spec
    for spec in (
        ScenarioSpec(
            "ClusterSched-v1",
            {},
            "The defaults: 8 x Llama-3-8B on A100, 128 synthetic conversation requests; "
            "configure anything by keyword.",
        ),
        ScenarioSpec(
            "ConvBusy-v1",
            {
                "cluster": {"num_instances": 4},
                "workload": {"source": "synthetic:conv", "num_requests": 256, "rate_scale": 12.0},
                "reward": {"objective": "slowdown"},
            },
            "A burst of conversation requests (12x the trace's rate) on 4 instances: queues "
            "form at once, and the order and placement of requests decide their slowdown.",
        ),
        ScenarioSpec(
            "LongMix-v1",
            {
                "cluster": {"num_instances": 16},
                "workload": {
                    "source": "synthetic:conv",
                    "num_requests": 512,
                    "rate_scale": 3.0,
                    "long_fraction": 0.02,
                },
                "reward": {"objective": "slowdown"},
            },
            "PecSched's setting in small: conversation requests at 3x the trace's rate, 2% of "
            "inputs rescaled to 100K-500K tokens on sequence-parallel groups; short requests "
            "get stuck behind them unless long prefills are paused or passed.",
        ),
        ScenarioSpec(
            "CodeBursty-v1",
            {
                "cluster": {"num_instances": 8},
                "workload": {"source": "synthetic:code", "num_requests": 256, "rate_scale": 4.0},
                "reward": {"objective": "slowdown"},
            },
            "Bursty code-completion traffic at 4x the trace's rate on 8 instances: long "
            "prompts, short outputs, arrivals in bursts.",
        ),
        ScenarioSpec(
            "LSMix-v1",
            {
                "cluster": {"num_instances": 2, "ttft_slo": 3.0, "be_ttft_slo": 10.0},
                "workload": {
                    "source": "synthetic:conv",
                    "num_requests": 256,
                    "rate_scale": 16.0,
                    "ls_fraction": 0.2,
                },
                "reward": {"objective": "slo_violations"},
            },
            "QLLM's setting: a burst of conversation requests (16x the trace's rate) on 2 "
            "instances, 20% latency-sensitive (3 s TTFT SLO, weighted 4x) among best-effort "
            "ones (10 s).",
        ),
    )
}
"""Scenarios by name (the env id without the namespace)."""


def get_scenario(name: str) -> ScenarioSpec:
    """A scenario by name or env id (``"ConvBusy-v1"`` or ``"pecgym/ConvBusy-v1"``)."""
    key = name.removeprefix(f"{NAMESPACE}/")
    try:
        return SCENARIOS[key]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise ConfigError(f"unknown scenario {name!r}; known: {known}") from None


def resolve_config(
    scenario: str | None, config: Any = None, overrides: Mapping[str, Any] | None = None
) -> EnvConfig:
    """The config an env is built with: the scenario's settings (if named), then ``config``
    (an :class:`EnvConfig` or nested dict), then ``overrides``, deep-merged."""
    base = get_scenario(scenario).settings if scenario else None
    return EnvConfig.build(base, config, overrides or None)
