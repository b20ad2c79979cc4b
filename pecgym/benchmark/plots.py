"""Figures of a comparison: CDF of short-request queueing delay, and the metrics table as bars.

Drawn on bare matplotlib :class:`~matplotlib.figure.Figure` objects rendered by Agg (files
only: no display, no pyplot state, the caller's backend untouched).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pecgym.benchmark.harness import TABLE_METRICS

_STYLES = ("-", "--", "-.", ":")


def _colors(count: int) -> list:
    cmap = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


def plot_delay_cdf(
    requests: pd.DataFrame,
    path: str | Path,
    *,
    metric: str = "queueing_delay",
    which: str = "short",
    title: str | None = None,
    mark: tuple[float, str] | None = None,
) -> Path:
    """Empirical CDF of ``metric`` for one request class, one line per policy.

    ``which`` is ``short``, ``long``, ``ls`` (latency-sensitive), ``be`` or ``all``; ``mark``
    draws a labelled vertical line (e.g. an SLO). Requests of every seed are pooled. The x
    axis is linear up to 10 ms and logarithmic beyond, so policies that start most requests
    at once (delay 0) still show; the legend gives each policy's share at exactly 0 s.
    """
    path = Path(path)
    classes = {
        "short": ~requests["is_long"],
        "long": requests["is_long"],
        "ls": requests["latency_sensitive"],
        "be": ~requests["latency_sensitive"],
        "all": requests["is_long"] | True,
    }
    if which not in classes:
        raise ValueError(f"which must be one of {sorted(classes)}, got {which!r}")
    frame = requests[classes[which].astype(bool)]
    curves = {}
    for policy in dict.fromkeys(frame["policy"]):
        values = np.sort(frame.loc[frame["policy"] == policy, metric].dropna().to_numpy())
        if values.size:
            curves[policy] = values
    fig = Figure(figsize=(8.5, 4.8), layout="constrained")
    ax = fig.subplots()
    right = max([float(v[-1]) for v in curves.values()] + [1.0]) * 1.5
    zeros = any((v <= 0).any() for v in curves.values())
    for i, ((policy, values), color) in enumerate(
        zip(curves.items(), _colors(len(curves)), strict=True)
    ):
        share = np.arange(1, values.size + 1) / values.size
        label = f"{policy} ({(values <= 0).mean():.0%} at 0 s)" if zeros else policy
        # drawn to the right edge, so a policy with every request at 0 s is a visible line
        ax.step(
            np.r_[0.0, values, right],
            np.r_[0.0, share, 1.0],
            where="post",
            label=label,
            color=color,
            linestyle=_STYLES[i // 10 % len(_STYLES)],
            linewidth=2.2 - 0.1 * i,
            alpha=0.9,
        )
    if mark is not None:
        ax.axvline(mark[0], color="black", linestyle=":", linewidth=1.2, label=mark[1])
    ax.set_xscale("symlog", linthresh=0.01, linscale=0.5)
    ax.set_xlim(0.0, right)
    ax.set_ylim(-0.01, 1.03)
    who = {"ls": "latency-sensitive", "be": "best-effort", "all": "all"}.get(which, which)
    what = _METRIC_NAMES.get(metric, metric.replace("_", " "))
    ax.set_xlabel(f"{what} of {who} requests (s; log scale above 0.01 s)")
    ax.set_ylabel("share of requests")
    ax.set_title(textwrap.fill(title or f"CDF of {what}, {who} requests", 90), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.savefig(path, dpi=130)
    return path


_METRIC_NAMES = {"queueing_delay": "queueing delay", "ttft": "TTFT", "tbt": "TBT", "jct": "JCT"}


def _axis_span(values: np.ndarray) -> float:
    """Axis length for bars: the largest value, unless it dwarfs the rest (an outlier such as
    the random policy), then the largest of the others (the outlier's bar is cut)."""
    finite = np.sort(np.abs(values[np.isfinite(values)]))
    if not finite.size or finite[-1] == 0:
        return 1.0
    if finite.size > 2 and finite[-2] > 0 and finite[-1] > 5 * finite[-2]:
        return float(finite[-2])
    return float(finite[-1])


def plot_metrics(table: pd.DataFrame, path: str | Path, *, title: str | None = None) -> Path:
    """The comparison table as bar charts: one panel per metric, one bar per policy."""
    path = Path(path)
    metrics = [m for m in TABLE_METRICS if m in table.columns]
    cols = 3 if len(metrics) > 4 else 2
    rows = -(-len(metrics) // cols)
    policies = list(table.index)
    fig = Figure(
        figsize=(4.2 * cols, 0.28 * len(policies) * rows + 1.4 * rows + 0.6), layout="constrained"
    )
    axes = fig.subplots(rows, cols, squeeze=False)
    colors = _colors(len(policies))
    y = np.arange(len(policies))
    for ax, metric in zip(axes.flat, metrics, strict=False):
        values = table[metric].to_numpy(dtype=float)
        shown = np.nan_to_num(values)
        ax.barh(y, shown, color=colors)
        ax.set_yticks(y, policies, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(TABLE_METRICS[metric], fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(True, axis="x", alpha=0.3)
        span = _axis_span(shown)
        for row, value in zip(y, values, strict=True):
            text = "n/a" if np.isnan(value) else f"{value:.3g}"
            if np.isfinite(value) and value > span * 1.3:  # cut bar: its value inside it
                ax.text(
                    span * 1.3,
                    row,
                    f"{text} (cut) ",
                    va="center",
                    ha="right",
                    fontsize=7,
                    color="white",
                    fontweight="bold",
                )
            else:
                x = max(value, 0.0) if np.isfinite(value) else 0.0
                ax.text(x, row, " " + text, va="center", fontsize=7)
        ax.set_xlim(0, span * 1.3)
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(textwrap.fill(title, 110), fontsize=11)
    fig.savefig(path, dpi=130)
    return path
