"""A seeded workload recipe: source, window, load scaling, long-input rescaling, LS labels."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pecgym.traces.azure import load_azure_csv
from pecgym.traces.synthetic import synthetic_workload
from pecgym.traces.transforms import (
    label_latency_sensitive,
    rescale_long_inputs,
    sample_window,
    scale_rate,
)
from pecgym.traces.workload import Workload, WorkloadError

SYNTHETIC_PREFIX = "synthetic:"


@lru_cache(maxsize=8)
def _cached_trace(path: str, mtime: float) -> Workload:
    return load_azure_csv(path)


def cached_trace(path: str | Path) -> Workload:
    """A trace file, parsed once per process (re-read when the file changes)."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.exists():
        raise FileNotFoundError(f"trace file not found: {path}")
    return _cached_trace(str(resolved), resolved.stat().st_mtime)


@dataclass(frozen=True)
class WorkloadSpec:
    """How to make an episode's workload from a seed.

    Attributes:
        source: a trace CSV path, or ``synthetic:conv`` / ``synthetic:code`` (the default).
        num_requests: synthetic: how many requests; trace: keep the first N of the window
            (``None``: all of it; a synthetic profile's default size).
        duration: seconds of arrivals (for a trace, a seeded random window of this length);
            with ``num_requests`` too, the first ``num_requests`` of them.
        rate_scale: arrival-rate multiplier (2 = twice the load).
        long_fraction: if set, the longest this fraction of inputs is rescaled linearly
            into ``long_range`` tokens (PecSched's long-input construction).
        long_range: target range of rescaled long inputs.
        ls_fraction: if set, this seeded fraction of requests is latency-sensitive.
    """

    source: str = "synthetic:conv"
    num_requests: int | None = 128
    duration: float | None = None
    rate_scale: float = 1.0
    long_fraction: float | None = None
    long_range: tuple[int, int] = (100_000, 500_000)
    ls_fraction: float | None = None

    def __post_init__(self) -> None:
        if self.num_requests is not None and self.num_requests < 1:
            raise WorkloadError(f"num_requests must be >= 1, got {self.num_requests}")
        if self.duration is not None and not self.duration > 0:
            raise WorkloadError(f"duration must be > 0, got {self.duration}")
        if not self.rate_scale > 0:
            raise WorkloadError(f"rate_scale must be > 0, got {self.rate_scale}")

    @property
    def is_synthetic(self) -> bool:
        return self.source.startswith(SYNTHETIC_PREFIX)

    def build(self, seed: int = 0) -> Workload:
        """The workload for ``seed`` (same seed, same workload)."""
        seeds = np.random.SeedSequence(seed).spawn(3)
        if self.is_synthetic:
            profile = self.source[len(SYNTHETIC_PREFIX) :]
            if self.duration is not None:
                workload = synthetic_workload(profile, duration=self.duration, seed=_int(seeds[0]))
            else:
                workload = synthetic_workload(
                    profile, num_requests=self.num_requests, seed=_int(seeds[0])
                )
        else:
            workload = cached_trace(self.source)
            if self.duration is not None:
                workload = sample_window(workload, self.duration, seed=_int(seeds[0]))
        if self.num_requests is not None and len(workload) > self.num_requests:
            workload = workload.take(np.arange(self.num_requests))
        if self.rate_scale != 1.0:
            workload = scale_rate(workload, self.rate_scale)
        if self.long_fraction is not None:
            low, high = self.long_range
            workload = rescale_long_inputs(
                workload, fraction=self.long_fraction, low=low, high=high
            )
        if self.ls_fraction is not None:
            workload = label_latency_sensitive(workload, self.ls_fraction, seed=_int(seeds[2]))
        return workload


def _int(seed: np.random.SeedSequence) -> int:
    return int(seed.generate_state(1)[0])
