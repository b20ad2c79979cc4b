"""Pure functions that derive a new :class:`Workload` from another (the input is never changed)."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from pecgym.traces.workload import DEFAULT_SHORT_THRESHOLD, Workload, WorkloadError

SeedLike = int | np.random.Generator | None

WINDOW_ATTEMPTS = 64
"""Random window starts tried at once by :func:`sample_window` before giving up."""


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise WorkloadError(f"{what} must be a finite number, got {value!r}")
    if value <= 0:
        raise WorkloadError(f"{what} must be > 0, got {value!r}")
    return float(value)


def _fraction(value: object, what: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise WorkloadError(f"{what} must be a number, got {value!r}")
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise WorkloadError(f"{what} must be in {interval}, got {value!r}")
    return float(value)


def _require_requests(w: Workload, what: str) -> None:
    if len(w) == 0:
        raise WorkloadError(f"{what}: workload {w.name!r} has no requests")


def scale_rate(w: Workload, factor: float) -> Workload:
    """Divide arrival times by ``factor``: factor 2 doubles the request rate (the load)."""
    factor = _positive(factor, "scale_rate factor")
    meta = dict(w.meta)
    meta["rate_scale"] = meta.get("rate_scale", 1.0) * factor
    return w.replace(arrival=w.arrival / factor, meta=meta)


def time_window(w: Workload, start: float, duration: float) -> Workload:
    """Requests arriving in ``[start, start + duration)``, re-based so ``start`` becomes 0."""
    if isinstance(start, bool) or not isinstance(start, Real) or not math.isfinite(start):
        raise WorkloadError(f"time_window start must be a finite number, got {start!r}")
    duration = _positive(duration, "time_window duration")
    lo, hi = np.searchsorted(w.arrival, [start, start + duration], side="left")
    if hi <= lo:
        span = f"[0, {w.arrival[-1]:.3f}] s" if len(w) else "empty"
        raise WorkloadError(
            f"time_window [{start:g}, {start + duration:g}) s of workload {w.name!r} holds no "
            f"request (its arrivals span {span})"
        )
    part = w.take(np.arange(lo, hi))
    meta = dict(w.meta)
    meta["window"] = (float(start), float(duration))
    # Clip guards against float rounding; arrivals in the window are >= start by construction.
    return part.replace(arrival=np.maximum(part.arrival - start, 0.0), meta=meta)


def sample_window(w: Workload, duration: float, seed: SeedLike = None) -> Workload:
    """A random window of ``duration`` seconds (uniform start), re-based to start at 0.

    The window always holds at least one request: up to 64 uniform starts are drawn at once
    and the first non-empty one is used. The same seed picks the same window.
    """
    _require_requests(w, "sample_window")
    duration = _positive(duration, "sample_window duration")
    first, last = float(w.arrival[0]), float(w.arrival[-1])
    if duration > last - first and last > first:
        raise WorkloadError(
            f"sample_window duration {duration:g} s is longer than workload {w.name!r} "
            f"({last - first:.3f} s)"
        )
    rng = np.random.default_rng(seed)
    latest = max(first, last - duration)
    starts = first + rng.random(WINDOW_ATTEMPTS) * (latest - first)
    counts = np.searchsorted(w.arrival, starts + duration) - np.searchsorted(w.arrival, starts)
    if not counts.any():
        # Every draw fell in a gap: start at a random request, which is never empty.
        starts = w.arrival[rng.integers(0, np.searchsorted(w.arrival, latest, "right"), 1)]
        counts = np.ones(1, dtype=np.int64)
    return time_window(w, float(starts[np.argmax(counts > 0)]), duration)


def rescale_long_inputs(
    w: Workload,
    *,
    fraction: float | None = None,
    threshold: int | None = None,
    low: int = 100_000,
    high: int = 500_000,
) -> Workload:
    """Stretch the longest inputs linearly onto ``[low, high]`` tokens, as the PecSched code does.

    The selected requests are the ``ceil(fraction * n)`` longest inputs (ties broken by
    arrival order) or, with ``threshold``, those longer than ``threshold`` tokens; give exactly
    one. Their lengths are mapped linearly from [their min, their max] onto [low, high], which
    keeps their order; if they all have one length, they all get ``low``.
    """
    _require_requests(w, "rescale_long_inputs")
    if (fraction is None) == (threshold is None):
        raise WorkloadError("rescale_long_inputs: give exactly one of fraction and threshold")
    for value, what in ((low, "low"), (high, "high")):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise WorkloadError(
                f"rescale_long_inputs: {what} must be an integer >= 1, got {value!r}"
            )
    if not low < high:
        raise WorkloadError(f"rescale_long_inputs: need low < high, got low={low}, high={high}")
    inputs = w.input_tokens
    if fraction is not None:
        fraction = _fraction(fraction, "rescale_long_inputs fraction")
        count = min(len(w), math.ceil(fraction * len(w) - 1e-9))
        selected = np.argsort(inputs, kind="stable")[len(w) - count :]
        rule = f"longest {fraction:g}"
    else:
        if isinstance(threshold, bool) or not isinstance(threshold, Integral) or threshold < 0:
            raise WorkloadError(
                f"rescale_long_inputs: threshold must be an integer >= 0, got {threshold!r}"
            )
        selected = np.flatnonzero(inputs > threshold)
        if selected.size == 0:
            raise WorkloadError(
                f"rescale_long_inputs: no request of workload {w.name!r} has more than "
                f"{threshold} input tokens (the longest has {int(inputs.max())})"
            )
        rule = f"inputs > {threshold}"
    chosen = inputs[selected].astype(np.float64)
    lo_len, hi_len = chosen.min(), chosen.max()
    if hi_len > lo_len:
        mapped = low + (chosen - lo_len) * ((high - low) / (hi_len - lo_len))
    else:
        mapped = np.full_like(chosen, float(low))
    new_inputs = inputs.copy()
    new_inputs[selected] = np.clip(np.rint(mapped), low, high).astype(np.int64)
    meta = dict(w.meta)
    meta["rescaled_long_inputs"] = {
        "rule": rule,
        "count": int(selected.size),
        "from": (int(lo_len), int(hi_len)),
        "to": (int(low), int(high)),
    }
    return w.replace(input_tokens=new_inputs, meta=meta)


def label_latency_sensitive(w: Workload, fraction: float, seed: SeedLike = None) -> Workload:
    """Label ``round(fraction * n)`` requests, chosen at random (seeded), latency-sensitive."""
    fraction = _fraction(fraction, "label_latency_sensitive fraction", allow_zero=True)
    n = len(w)
    count = round(fraction * n)
    labels = np.zeros(n, dtype=bool)
    if count:
        labels[np.random.default_rng(seed).choice(n, size=count, replace=False)] = True
    return w.replace(latency_sensitive=labels)


def short_long_mask(w: Workload, threshold: int = DEFAULT_SHORT_THRESHOLD) -> np.ndarray:
    """Boolean mask, True for long requests (input > ``threshold`` tokens), False for short."""
    return w.is_long(threshold)
