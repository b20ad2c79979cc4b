"""Reservation: a fixed pool of instances reserved for long requests (FasterTransformer-like).

PecSched's "Reservation" baseline: enough instances to serve the largest long input
(500K tokens) are set aside for long requests, the SP degree that input's KV needs at
``sp_tokens_per_instance`` tokens per instance (8 instances at 64K; the paper reserves 4-6
replicas). The pool is the last instances of the cluster (one node when it is 8 wide). Long
requests run only there and short ones only on the rest, each class in FIFO order, without
preemption; the pool idles whenever no long request is running. (On a cluster too small to
keep instances for short requests beside such a pool, a long request whose SP group does not
fit the pool may use any instances, so that it is served at all.)
"""

from __future__ import annotations

import numpy as np

from pecgym.baselines.base import Heuristic
from pecgym.baselines.common import HEURISTIC_ENV, CommandBuilder, Snapshot, place
from pecgym.sim.simulator import ClusterSim, Commands


class ReservationPolicy(Heuristic):
    """Long requests on a reserved pool, short ones on the rest, FIFO in each."""

    name = "reservation"
    env_overrides = HEURISTIC_ENV

    def __init__(self, max_input_tokens: int = 500_000, reserved: int | None = None) -> None:
        self.max_input_tokens = max_input_tokens
        self.reserved = reserved

    def pool_size(self, sim: ClusterSim) -> int:
        """Instances reserved for long requests (at least one left for short ones)."""
        size = self.reserved or int(sim.sp_degree_for(np.array(self.max_input_tokens)))
        return int(np.clip(size, 1, sim.num_instances - 1))

    def long_pool(self, sim: ClusterSim) -> np.ndarray:
        """``(I,)`` mask of the reserved instances."""
        return np.arange(sim.num_instances) >= sim.num_instances - self.pool_size(sim)

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        snap, out = Snapshot(sim, envs), CommandBuilder(sim, envs)
        pool = self.long_pool(sim)[None, :]
        short = snap.oldest(~snap.is_long)
        lo, n = place(sim, envs, short, allowed=~pool)
        out.start((short >= 0) & (lo >= 0), short, lo, n)
        long_ = snap.oldest(snap.is_long)
        too_big = (
            sim.sp_degree_for(sim.read("prefill_len")[envs, np.maximum(long_, 0)]) > pool.sum()
        )
        lo, n = place(sim, envs, long_, allowed=pool | too_big[:, None])
        out.start((long_ >= 0) & (lo >= 0), long_, lo, n)
        return out.result()
