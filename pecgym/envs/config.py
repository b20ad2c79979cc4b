"""One typed configuration of a scheduling env: :class:`EnvConfig`, a tree of frozen dataclasses.

Every env, scenario, CLI command and result is described by one ``EnvConfig``. It is built
once, at the door, by :meth:`EnvConfig.build`: layers of plain nested dicts (a scenario's
settings, then ``gym.make`` keyword arguments or CLI options) are deep-merged onto the
defaults declared in the dataclasses below, checked field by field (an unknown key or a
wrong type is an error that names the field), and frozen. ``to_dict()`` gives the resolved
tree back as JSON-ready data, written beside every result.

Sections: ``cluster`` (:class:`~pecgym.sim.config.ClusterConfig`), ``workload``
(:class:`~pecgym.traces.spec.WorkloadSpec`), ``reward`` (:class:`RewardConfig`),
``observation`` (:class:`ObservationConfig`) and ``seeds`` (:class:`SeedConfig`).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pecgym.sim.config import ClusterConfig, ConfigError
from pecgym.traces.spec import WorkloadSpec
from pecgym.traces.workload import WorkloadError

QUEUE_VIEWS = {
    "oldest": "queued requests, oldest first",
    "shortest": "queued requests, shortest prompt first (ties: oldest first)",
    "latency_sensitive": "queued latency-sensitive requests, oldest first",
    "preempted": "preempted requests, oldest first",
    "short": "queued short requests (input up to the threshold), oldest first",
    "long": "queued long requests, oldest first",
}
"""The queue views an observation may show (``ObservationConfig.queue_views``)."""

OBJECTIVES = {
    "slowdown": "mean slowdown: each request's JCT over its JCT alone on an idle cluster",
    "slo_violations": "percentage of requests missing their TTFT SLO (LS weighted)",
}
"""The primary objectives a reward may decompose (``RewardConfig.objective``)."""


@dataclass(frozen=True)
class ObservationConfig:
    """What the observation shows.

    Attributes:
        view_size: rows per queue view.
        queue_views: the views of the queue shown, each ``view_size`` rows (see
            :data:`QUEUE_VIEWS`); a request may show in several.
        running_window: rows of running requests (prefills first, then long decodes, then
            short decodes, oldest first).
    """

    view_size: int = 8
    queue_views: tuple[str, ...] = ("oldest", "shortest")
    running_window: int = 16

    def __post_init__(self) -> None:
        if self.view_size < 1 or self.running_window < 0:
            raise ConfigError(
                f"view_size must be >= 1 and running_window >= 0, got "
                f"{self.view_size}, {self.running_window}"
            )
        unknown = [v for v in self.queue_views if v not in QUEUE_VIEWS]
        if unknown or not self.queue_views or len(set(self.queue_views)) != len(self.queue_views):
            raise ConfigError(
                f"queue_views must be distinct names from {sorted(QUEUE_VIEWS)}, "
                f"got {self.queue_views!r}"
            )

    @property
    def queue_rows(self) -> int:
        """Rows showing queued requests (all views)."""
        return self.view_size * len(self.queue_views)


@dataclass(frozen=True)
class RewardConfig:
    """The reward: the per-step decomposition of the episode's primary objective.

    The episode's return is ``-scale * objective - invalid_penalty * invalid actions``,
    where ``objective`` (lower is better) is the weighted mean per-request cost of
    ``objective`` (:data:`OBJECTIVES`) plus ``unfinished_penalty`` times the share of the
    episode's requests left unfinished when it is truncated.

    Attributes:
        objective: ``"slowdown"`` or ``"slo_violations"``.
        scale: multiplies the objective into the reward.
        unfinished_penalty: added to the objective per unit share of unfinished requests
            (1000: leaving 1% of the requests unserved costs 10).
        invalid_penalty: reward charged per invalid action (which waits instead).
        ls_weight: weight of a latency-sensitive request against a best-effort one in
            ``slo_violations``.
    """

    objective: str = "slowdown"
    scale: float = 1.0
    unfinished_penalty: float = 1000.0
    invalid_penalty: float = 0.01
    ls_weight: float = 4.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                f"objective must be one of {sorted(OBJECTIVES)}, got {self.objective!r}"
            )
        for name in ("scale", "ls_weight"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("unfinished_penalty", "invalid_penalty"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class SeedConfig:
    """Workload seeds: training draws from ``train``, evaluation uses ``test`` (half-open
    ranges ``[start, stop)``, disjoint)."""

    train: tuple[int, int] = (0, 1_000_000)
    test: tuple[int, int] = (1_000_000, 1_000_020)

    def __post_init__(self) -> None:
        for name in ("train", "test"):
            start, stop = getattr(self, name)
            if not 0 <= start < stop <= 2**31 - 1:
                raise ConfigError(
                    f"{name} must be a range [start, stop) in [0, 2**31), got {start, stop}"
                )
        (a, b), (c, d) = self.train, self.test
        if a < d and c < b:
            raise ConfigError(f"train {self.train} and test {self.test} seed ranges overlap")

    def test_seeds(self, count: int | None = None) -> list[int]:
        """The held-out seeds (the first ``count`` of them)."""
        start, stop = self.test
        stop = stop if count is None else min(stop, start + count)
        return list(range(start, stop))


@dataclass(frozen=True)
class EnvConfig:
    """The whole configuration of a scheduling env (see the module docstring)."""

    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    reward: RewardConfig = field(default_factory=RewardConfig)
    observation: ObservationConfig = field(default_factory=ObservationConfig)
    seeds: SeedConfig = field(default_factory=SeedConfig)

    @classmethod
    def build(cls, *layers: Mapping[str, Any] | EnvConfig | None) -> EnvConfig:
        """Deep-merge ``layers`` (later wins) onto the defaults and check every field."""
        return build_dataclass(cls, *layers)

    def to_dict(self) -> dict[str, Any]:
        """The resolved tree as JSON-ready nested dicts."""
        return to_plain(self)

    def merged(self, *layers: Mapping[str, Any] | None) -> EnvConfig:
        """This config with ``layers`` deep-merged on top."""
        return EnvConfig.build(self, *layers)

    def digest(self) -> str:
        """A short hash of the resolved tree (equal configs, equal digests)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_dataclass(cls: type, *layers: Mapping[str, Any] | Any | None) -> Any:
    """An instance of the frozen dataclass tree ``cls``: ``layers`` (nested dicts or
    instances, later wins) deep-merged onto its defaults, every field checked."""
    tree = to_plain(cls())
    for layer in layers:
        if layer is None:
            continue
        tree = deep_merge(tree, to_plain(layer))
    return _construct(cls, tree, "")


def to_plain(value: Any) -> Any:
    """Dataclasses and tuples as nested dicts and lists (JSON-ready)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    return value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any], path: str = "") -> dict:
    """``base`` with ``override`` merged in, recursively for nested dicts. A key of
    ``override`` that ``base`` does not have is an error naming it."""
    if not isinstance(override, Mapping):
        raise ConfigError(f"{path or 'config'} must be a mapping, got {override!r}")
    merged = dict(base)
    for key, value in override.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in base:
            raise ConfigError(_unknown(key, where, base, path))
        if isinstance(base[key], Mapping):
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = to_plain(value)
            merged[key] = deep_merge(base[key], value, where)
        else:
            merged[key] = value
    return merged


def _unknown(key: Any, where: str, known: Mapping[str, Any], path: str) -> str:
    message = f"unknown setting {where!r}"
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
    if close:
        return f"{message}; did you mean {(f'{path}.' if path else '') + close[0]!r}?"
    if not path:  # a field given at the top level: say which section it belongs to
        for section, fields in known.items():
            if isinstance(fields, Mapping) and key in fields:
                return f"{message}; it belongs in {section}: {section}={{{key!r}: ...}}"
    return f"{message}; known: {', '.join(map(str, known))}"


_ERRORS = (ConfigError, WorkloadError, ValueError, TypeError)


def _construct(cls: type, values: Mapping[str, Any], path: str) -> Any:
    """An instance of dataclass ``cls`` from ``values``, each field checked against its type."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        where = f"{path}.{f.name}" if path else f.name
        hint = hints[f.name]
        value = values[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _construct(hint, value, where)
        else:
            kwargs[f.name] = _coerce(value, hint, where)
    try:
        return cls(**kwargs)
    except _ERRORS as error:
        message = str(error)
        if not path:
            raise ConfigError(message) from None
        first = message.split(" ", 1)[0]
        named = first in {f.name for f in dataclasses.fields(cls)}
        raise ConfigError(f"{path}.{message}" if named else f"{path}: {message}") from None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as type ``hint`` (ints pass as floats, lists as tuples), or an error."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where} must be {_name(hint)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be {_name(hint)}, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], where) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{where} must be {_name(hint)}, got {value!r}")
        return tuple(_coerce(v, a, where) for v, a in zip(value, args, strict=True))
    if origin in (dict, Mapping) and isinstance(value, Mapping):
        return dict(value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if hint in (str, bool) and isinstance(value, hint):
        return value
    raise ConfigError(f"{where} must be {_name(hint)}, got {value!r}")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def field_paths(config: EnvConfig | None = None) -> dict[str, Any]:
    """Every setting as ``"section.field" -> default`` (or its value in ``config``)."""
    tree = (config or EnvConfig()).to_dict()
    return {
        f"{section}.{name}": value
        for section, fields in tree.items()
        for name, value in fields.items()
    }


def field_types() -> dict[str, Any]:
    """Every setting as ``"section.field" -> type hint``."""
    hints = typing.get_type_hints(EnvConfig)
    out = {}
    for section, cls in hints.items():
        for name, hint in typing.get_type_hints(cls).items():
            if name in {f.name for f in dataclasses.fields(cls)}:
                out[f"{section}.{name}"] = hint
    return out


def override_from_path(path: str, value: Any) -> dict[str, Any]:
    """``"cluster.tp", 2`` as the nested override ``{"cluster": {"tp": 2}}``."""
    section, _, name = path.partition(".")
    if not name:
        raise ConfigError(f"a setting is 'section.field', got {path!r}")
    return {section: {name: value}}
