"""Summary figures of a workload, the ones ``DOMAIN.md`` quotes for the Azure traces."""

from __future__ import annotations

import math

import numpy as np

from pecgym.traces.workload import DEFAULT_SHORT_THRESHOLD, Workload

SHORT_INPUT_MARK = 2048
"""The "share under 2K tokens" figure counts inputs strictly below this many tokens."""

_ROWS: tuple[tuple[str, str, str], ...] = (
    # key, label, format
    ("name", "workload", "{}"),
    ("requests", "requests", "{:,}"),
    ("duration_s", "duration (s)", "{:,.1f}"),
    ("rate_rps", "mean rate (req/s)", "{:.2f}"),
    ("interarrival_cv", "inter-arrival CV", "{:.2f}"),
    ("input_p50", "input p50 (tokens)", "{:,.0f}"),
    ("input_p80", "input p80", "{:,.0f}"),
    ("input_p90", "input p90", "{:,.0f}"),
    ("input_p99", "input p99", "{:,.0f}"),
    ("input_max", "input max", "{:,}"),
    ("input_share_under_2048", "inputs < 2048 tokens", "{:.1%}"),
    ("long_share", "long inputs (> {threshold:,})", "{:.1%}"),
    ("output_mean", "output mean (tokens)", "{:,.1f}"),
    ("output_p50", "output p50", "{:,.0f}"),
    ("output_p99", "output p99", "{:,.0f}"),
    ("output_max", "output max", "{:,}"),
    ("ls_share", "latency-sensitive share", "{:.1%}"),
)

_LENGTH_KEYS = tuple(key for key, _, _ in _ROWS if key.startswith(("input_", "output_", "long_")))


def trace_stats(w: Workload, threshold: int = DEFAULT_SHORT_THRESHOLD) -> dict:
    """Request count, rate, burstiness, input/output length quantiles and class shares.

    Rate is requests / (last - first arrival); the CV is std/mean of the inter-arrival gaps;
    quantiles use linear interpolation. Undefined figures (e.g. of an empty workload) are NaN;
    ``ls_share`` is None when the workload is unlabelled.
    """
    n = len(w)
    nan = math.nan
    stats: dict = {"name": w.name, "requests": n, "long_threshold": int(threshold)}
    duration = w.duration
    gaps = np.diff(w.arrival)
    stats["duration_s"] = duration
    stats["rate_rps"] = n / duration if duration > 0 else nan
    stats["interarrival_cv"] = (
        float(gaps.std() / gaps.mean()) if gaps.size and gaps.mean() > 0 else nan
    )
    inputs, outputs = w.input_tokens, w.output_tokens
    if n:
        p50, p80, p90, p99 = np.percentile(inputs, [50, 80, 90, 99])
        o50, o99 = np.percentile(outputs, [50, 99])
        stats.update(
            input_p50=float(p50),
            input_p80=float(p80),
            input_p90=float(p90),
            input_p99=float(p99),
            input_max=int(inputs.max()),
            input_share_under_2048=float(np.mean(inputs < SHORT_INPUT_MARK)),
            long_share=float(np.mean(w.is_long(threshold))),
            output_mean=float(outputs.mean()),
            output_p50=float(o50),
            output_p99=float(o99),
            output_max=int(outputs.max()),
        )
    else:
        for key in _LENGTH_KEYS:
            stats[key] = nan
    labels = w.latency_sensitive
    stats["ls_share"] = float(labels.mean()) if labels is not None and n else None
    return stats


def format_trace_stats(stats: dict) -> str:
    """``trace_stats`` output as a two-column table with aligned labels."""
    threshold = stats.get("long_threshold", DEFAULT_SHORT_THRESHOLD)
    lines = []
    for key, label, fmt in _ROWS:
        if key not in stats or stats[key] is None:
            continue
        value = stats[key]
        if isinstance(value, float) and math.isnan(value):
            text = "n/a"
        else:
            text = fmt.format(value)
        lines.append((label.format(threshold=threshold), text))
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label:<{width}}  {text}" for label, text in lines)
