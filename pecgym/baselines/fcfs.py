"""Iteration-level FCFS: QLLM's baseline, one first-come-first-served queue for LS and BE.

Latency-sensitive (LS) requests get no special treatment: they queue behind best-effort (BE)
ones in arrival order and wait for the running prefill to finish (no preemption). It is the
FIFO rule (:mod:`pecgym.baselines.fifo`) under QLLM's name.
"""

from __future__ import annotations

from pecgym.baselines.fifo import FIFOPolicy


class FCFSPolicy(FIFOPolicy):
    """Arrival order for every class; LS requests wait for running BE prefills."""

    name = "fcfs"
