"""Workloads for pecgym: Azure LLM inference traces, a synthetic generator, transforms, stats."""

from __future__ import annotations

from os import PathLike

from pecgym.traces.azure import UnsortedTraceWarning, load_azure_csv
from pecgym.traces.spec import SYNTHETIC_PREFIX, WorkloadSpec, cached_trace
from pecgym.traces.stats import format_trace_stats, trace_stats
from pecgym.traces.synthetic import PROFILES, TraceProfile, synthetic_workload
from pecgym.traces.transforms import (
    label_latency_sensitive,
    rescale_long_inputs,
    sample_window,
    scale_rate,
    short_long_mask,
    time_window,
)
from pecgym.traces.workload import DEFAULT_SHORT_THRESHOLD, Workload, WorkloadError

__all__ = [
    "DEFAULT_SHORT_THRESHOLD",
    "PROFILES",
    "SYNTHETIC_PREFIX",
    "TraceProfile",
    "UnsortedTraceWarning",
    "Workload",
    "WorkloadError",
    "WorkloadSpec",
    "cached_trace",
    "format_trace_stats",
    "label_latency_sensitive",
    "load_azure_csv",
    "load_workload",
    "rescale_long_inputs",
    "sample_window",
    "scale_rate",
    "short_long_mask",
    "synthetic_workload",
    "time_window",
    "trace_stats",
]


def load_workload(
    source: str | PathLike[str], *, num_requests: int | None = None, seed: int = 0
) -> Workload:
    """A trace file path, or ``synthetic:PROFILE`` (e.g. ``synthetic:conv``) for the generator.

    ``num_requests`` sizes the generator's workload (or keeps a trace's first N requests);
    ``seed`` seeds the generator. Same as ``WorkloadSpec(source, num_requests).build(seed)``.
    """
    return WorkloadSpec(source=str(source), num_requests=num_requests).build(seed)
