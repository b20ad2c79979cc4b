"""FIFO: one global first-come-first-served queue (LoongServe-like, as in PecSched's study).

The oldest queued request starts as soon as a group of instances with no running prefill and
room for its KV cache exists; nothing may overtake it (so a long prefill blocks the head of the
line). Long requests get a sequence-parallel group sized for their KV (one instance per 64K
tokens, ``ClusterConfig.sp_tokens_per_instance``); the decode stays where the KV is.
"""

from __future__ import annotations

import numpy as np

from pecgym.baselines.base import Heuristic
from pecgym.baselines.common import HEURISTIC_ENV
from pecgym.sim.placement import feasible_starts, least_loaded_start
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import Op


def head_of_queue(sim: ClusterSim, envs: np.ndarray) -> np.ndarray:
    """The oldest queued request of each env (-1 where the queue is empty)."""
    win = sim.window()
    queued = sim.queued()[envs, win]
    return np.where(queued.any(axis=1), queued.argmax(axis=1) + win.start, -1)


class FIFOPolicy(Heuristic):
    """Serve requests strictly in arrival order."""

    name = "fifo"
    env_overrides = HEURISTIC_ENV

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        commands = Commands.empty(sim.num_envs)
        deciding = envs
        head = head_of_queue(sim, envs)
        has = head >= 0
        envs, head = envs[has], head[has]
        need, k, fixed = sim.start_requirements(envs, head)
        feasible = feasible_starts(sim, envs, need, k)
        lo = least_loaded_start(sim, envs, feasible, k)
        kept = fixed >= 0
        rows = np.arange(envs.size)
        lo = np.where(kept, np.where(feasible[rows, np.maximum(fixed, 0)], fixed, -1), lo)
        go = lo >= 0
        commands.op[envs[go]] = Op.START
        commands.req[envs[go]] = head[go]
        commands.lo[envs[go]] = lo[go]
        commands.n[envs[go]] = k[go]
        return commands.select(deciding)
