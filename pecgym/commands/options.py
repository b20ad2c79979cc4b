"""Command-line options generated from the config tree (:class:`pecgym.envs.EnvConfig`).

Every setting ``section.field`` is an option ``--section.field`` (``--cluster.chunk-tokens
256``), typed from the dataclass; ``--set section.field=VALUE`` does the same from a string,
and ``--scenario`` starts from a named scenario. A few common settings also have short
names (:data:`ALIASES`). The options become one nested override, deep-merged onto the
scenario by :func:`scenario_from_args`.
"""

from __future__ import annotations

import argparse
import json
import typing
from typing import Any

from pecgym.benchmark.harness import Scenario
from pecgym.benchmark.scenarios import SCENARIOS as STUDIES
from pecgym.benchmark.scenarios import get_scenario as get_study
from pecgym.envs.config import EnvConfig, field_paths, field_types, override_from_path
from pecgym.envs.scenarios import SCENARIOS
from pecgym.sim.config import ConfigError

ALIASES = {
    "model": "cluster.model",
    "gpu": "cluster.gpu",
    "tp": "cluster.tp",
    "instances": "cluster.num_instances",
    "sp-method": "cluster.sp_method",
    "horizon": "cluster.horizon",
    "decision-interval": "cluster.decision_interval",
    "trace": "workload.source",
    "num-requests": "workload.num_requests",
    "duration": "workload.duration",
    "rate-scale": "workload.rate_scale",
    "long-fraction": "workload.long_fraction",
    "ls-fraction": "workload.ls_fraction",
}
"""Short option names of common settings."""

CLI_DEFAULT: dict[str, Any] = {
    "cluster": {"num_instances": 32},
    "workload": {"source": "synthetic:conv", "num_requests": 2000},
}
"""What the commands run without ``--scenario``: the defaults with a larger cluster and
2000 synthetic conversation requests."""


def _dest(path: str) -> str:
    return "cfg__" + path.replace(".", "__")


def _parser_for(hint: Any):
    """A string-to-value converter for a field type (JSON for lists, ``none`` for None)."""
    args = typing.get_args(hint)

    def convert(text: str) -> Any:
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        if text.startswith("["):
            return json.loads(text)
        for kind in (int, float):
            if kind in args or hint is kind:
                try:
                    return kind(text)
                except ValueError:
                    continue
        if hint is bool or bool in args:
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
        return text

    return convert


def add_config_arguments(parser: argparse.ArgumentParser, *, scenario: bool = True) -> None:
    """Options for every setting, grouped by section, plus ``--scenario`` and ``--set``."""
    if scenario:
        names = [*SCENARIOS, *STUDIES]
        parser.add_argument(
            "--scenario",
            metavar="NAME",
            help=f"start from a named scenario ({', '.join(names)}); options override it",
        )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="set any setting, e.g. --set cluster.chunk_tokens=256 (repeatable)",
    )
    types = field_types()
    defaults = field_paths()
    aliases = {path: alias for alias, path in ALIASES.items()}
    groups: dict[str, argparse._ArgumentGroup] = {}
    for path, hint in types.items():
        section = path.split(".")[0]
        group = groups.get(section) or parser.add_argument_group(section)
        groups[section] = group
        flags = ["--" + path.replace("_", "-")]
        if path in aliases:
            flags.insert(0, "--" + aliases[path])
        group.add_argument(
            *flags,
            dest=_dest(path),
            type=_parser_for(hint),
            metavar="VALUE",
            help=f"(default: {defaults[path]!r})",
        )
    parser.add_argument(
        "--profile",
        choices=("conv", "code"),
        help="the synthetic profile when no trace is given (workload.source=synthetic:NAME)",
    )


def overrides_from_args(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The options given, as nested overrides (in order: options, then ``--set``)."""
    layers: list[dict[str, Any]] = []
    if getattr(args, "profile", None):
        layers.append({"workload": {"source": f"synthetic:{args.profile}"}})
    for path in field_types():
        value = getattr(args, _dest(path), None)
        if value is not None:
            layers.append(override_from_path(path, value))
    types = field_types()
    for item in getattr(args, "set", []) or []:
        path, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set takes SECTION.FIELD=VALUE, got {item!r}")
        if path not in types:
            # let the config name the unknown key and suggest one
            layers.append(override_from_path(path, text))
            continue
        layers.append(override_from_path(path, _parser_for(types[path])(text)))
    return layers


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """The scenario the options describe: ``--scenario`` (or :data:`CLI_DEFAULT`), then the
    options deep-merged on top. Bad names and values raise one error naming the setting."""
    name = getattr(args, "scenario", None)
    layers = overrides_from_args(args)
    if name in STUDIES:  # built on a trace: the last one the options name, else the default
        sources = [
            layer["workload"]["source"] for layer in layers if "source" in layer.get("workload", {})
        ]
        return get_study(name, sources[-1] if sources else None).merged(*layers)
    if name:
        return Scenario.from_env_id(name, *layers)
    config = EnvConfig.build(CLI_DEFAULT, *layers)
    if not config.workload.is_synthetic and not any(
        key in layer.get("workload", {}) for layer in layers for key in ("num_requests", "duration")
    ):  # a trace without a window: all of it
        config = config.merged({"workload": {"num_requests": None}})
    return Scenario("cli", config, "")
