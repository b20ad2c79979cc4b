"""The workload type every part of pecgym speaks: one array per request field."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_SHORT_THRESHOLD = 4096
"""Inputs longer than this many tokens are "long" (the PecSched code's threshold)."""


class WorkloadError(ValueError):
    """A workload (file, generator or transform result) is not usable; the message says why."""


@dataclass(frozen=True)
class Workload:
    """Requests sorted by arrival time.

    Attributes:
        arrival: arrival time in seconds, starting at 0, non-decreasing (float64).
        input_tokens: prompt length per request, >= 1 (int64).
        output_tokens: tokens to generate per request, >= 1 (int64).
        latency_sensitive: optional class label per request (bool); None when unlabelled.
        name: a short label for tables and plots.
    """

    arrival: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    latency_sensitive: np.ndarray | None = None
    name: str = "workload"
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        arrival = np.ascontiguousarray(self.arrival, dtype=np.float64)
        inputs = np.ascontiguousarray(self.input_tokens, dtype=np.int64)
        outputs = np.ascontiguousarray(self.output_tokens, dtype=np.int64)
        n = arrival.shape[0]
        if arrival.ndim != 1 or inputs.shape != (n,) or outputs.shape != (n,):
            raise WorkloadError(
                f"workload {self.name!r}: arrival, input_tokens and output_tokens must be 1-D "
                f"arrays of one length, got shapes {arrival.shape}, {inputs.shape}, "
                f"{outputs.shape}"
            )
        if n and not np.all(np.isfinite(arrival)):
            raise WorkloadError(f"workload {self.name!r}: arrival times must be finite")
        if n and np.any(np.diff(arrival) < 0):
            raise WorkloadError(f"workload {self.name!r}: arrival times must be sorted")
        if n and arrival[0] < 0:
            raise WorkloadError(f"workload {self.name!r}: arrival times must be >= 0")
        for label, values in (("input_tokens", inputs), ("output_tokens", outputs)):
            if n and values.min() < 1:
                bad = int(np.argmax(values < 1))
                raise WorkloadError(
                    f"workload {self.name!r}: {label} must be >= 1 (request {bad} has "
                    f"{values[bad]})"
                )
        labels = self.latency_sensitive
        if labels is not None:
            labels = np.ascontiguousarray(labels, dtype=bool)
            if labels.shape != (n,):
                raise WorkloadError(
                    f"workload {self.name!r}: latency_sensitive must have shape ({n},), "
                    f"got {labels.shape}"
                )
        for name, value in (
            ("arrival", arrival),
            ("input_tokens", inputs),
            ("output_tokens", outputs),
            ("latency_sensitive", labels),
        ):
            if value is not None:
                value.setflags(write=False)
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(self.arrival.shape[0])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last arrival."""
        return float(self.arrival[-1] - self.arrival[0]) if len(self) else 0.0

    def is_long(self, threshold: int = DEFAULT_SHORT_THRESHOLD) -> np.ndarray:
        """Boolean mask of requests whose input is longer than ``threshold`` tokens."""
        return self.input_tokens > threshold

    def replace(self, **changes) -> Workload:
        """A copy with some fields replaced (validated again)."""
        fields = {
            "arrival": self.arrival,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_sensitive": self.latency_sensitive,
            "name": self.name,
            "meta": dict(self.meta),
        }
        fields.update(changes)
        return Workload(**fields)

    def take(self, index: np.ndarray) -> Workload:
        """The requests at ``index`` (a sorted index array or boolean mask)."""
        labels = None if self.latency_sensitive is None else self.latency_sensitive[index]
        return self.replace(
            arrival=self.arrival[index],
            input_tokens=self.input_tokens[index],
            output_tokens=self.output_tokens[index],
            latency_sensitive=labels,
        )
