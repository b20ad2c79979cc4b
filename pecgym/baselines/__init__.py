"""Heuristic scheduling policies, by name: ``pecgym.baselines.get("fifo")``."""

from __future__ import annotations

from collections.abc import Callable

from pecgym.baselines.base import Policy, run_policy
from pecgym.baselines.fifo import FIFOPolicy

REGISTRY: dict[str, Callable[..., Policy]] = {
    "fifo": FIFOPolicy,
}


def names() -> list[str]:
    """Registered policy names."""
    return sorted(REGISTRY)


def get(name: str, **kwargs) -> Policy:
    """A new policy by registered name (keyword arguments go to its constructor)."""
    try:
        factory = REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(names())}") from None
    return factory(**kwargs)


__all__ = ["REGISTRY", "FIFOPolicy", "Policy", "get", "names", "run_policy"]
