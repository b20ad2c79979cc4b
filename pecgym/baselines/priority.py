"""Priority: short requests first, long ones at low priority, no preemption.

PecSched's "Priority" baseline (LightLLM's past-future scheduler as configured there): inputs
above the short/long threshold get low priority, all others high. The oldest queued short
request starts on the least-loaded free instance; a long request (oldest first, its SP group
sized for its KV) may start only when no short request is queued, and once running it is
never preempted. Under sustained short load long requests wait indefinitely (starvation).
"""

from __future__ import annotations

import numpy as np

from pecgym.baselines.base import Heuristic
from pecgym.baselines.common import HEURISTIC_ENV, CommandBuilder, Snapshot, place
from pecgym.sim.simulator import ClusterSim, Commands


class PriorityPolicy(Heuristic):
    """Two strict priority classes (short > long), FIFO within a class, no preemption."""

    name = "priority"
    env_overrides = HEURISTIC_ENV

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        snap, out = Snapshot(sim, envs), CommandBuilder(sim, envs)
        short = snap.oldest(~snap.is_long)
        lo, n = place(sim, envs, short)
        out.start((short >= 0) & (lo >= 0), short, lo, n)
        long_ = snap.oldest(snap.is_long)
        lo, n = place(sim, envs, long_)
        out.start((short < 0) & (long_ >= 0) & (lo >= 0), long_, lo, n)
        return out.result()
