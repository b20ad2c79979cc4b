"""Intervals over seeds: a mean's 95% confidence interval and a paired difference's."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Z95 = 1.959964
"""The normal quantile of a two-sided 95% interval."""


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (normal approximation over
    seeds; NaN half-width for fewer than two values)."""
    array = np.asarray(values, dtype=float)
    mean = float(array.mean())
    if array.size < 2:
        return mean, float("nan")
    return mean, float(Z95 * array.std(ddof=1) / np.sqrt(array.size))


def paired_diff_ci(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mean of ``a - b`` over paired seeds and its 95% half-width: ``a`` is below ``b``
    with 95% confidence when ``mean + half < 0``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in shape: {a.shape} and {b.shape}")
    return mean_ci(a - b)
