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
from pecgym.sim.placement import best_group
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import OP_START


def head_of_queue(sim: ClusterSim, envs: np.ndarray) -> np.ndarray:
    """The oldest queued request of each env (-1 where the queue is empty)."""
    win = sim.window()
    queued = sim.queued(win)[envs]
    return np.where(queued.any(axis=1), queued.argmax(axis=1) + win.start, -1)


class FIFOPolicy(Heuristic):
    """Serve requests strictly in arrival order."""

    name = "fifo"
    env_overrides = HEURISTIC_ENV

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        head = head_of_queue(sim, envs)
        lo, k = best_group(sim, envs, head)
        go = lo >= 0
        commands = Commands.noop(envs)
        commands.op[go] = OP_START
        commands.req[go] = head[go]
        commands.lo[go] = lo[go]
        commands.n[go] = k[go]
        return commands
