"""Shortest-input-first (SJF on prompt tokens): a classic size-based baseline.

The queued request with the fewest prompt tokens to prefill (ties: the oldest) starts on the
least-loaded feasible group; nothing overtakes it, and nothing is preempted. It minimises
mean queueing delay of short requests and starves long ones under load.
"""

from __future__ import annotations

import numpy as np

from pecgym.baselines.base import Heuristic
from pecgym.baselines.common import HEURISTIC_ENV, CommandBuilder, Snapshot, place
from pecgym.sim.simulator import ClusterSim, Commands


class SJFPolicy(Heuristic):
    """Always the shortest queued prompt next (the env's "shortest" queue view, row 0)."""

    name = "sjf"
    env_overrides = HEURISTIC_ENV

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        snap, out = Snapshot(sim, envs), CommandBuilder(sim, envs)
        length = np.where(
            snap.queued, sim.read("prefill_len")[envs, snap.win], np.iinfo(np.int64).max
        )
        shortest = np.where(snap.queued.any(axis=1), length.argmin(axis=1) + snap.start, -1)
        lo, n = place(sim, envs, shortest)
        out.start((shortest >= 0) & (lo >= 0), shortest, lo, n)
        return out.result()
