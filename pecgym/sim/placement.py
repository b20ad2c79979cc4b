"""Where a request can start: feasible instance groups, computed for all envs at once."""

from __future__ import annotations

import numpy as np

from pecgym.sim.groups import window_all, window_sum
from pecgym.sim.simulator import ClusterSim
from pecgym.sim.state import PreemptMode, ReqState


def start_requirements(sim: ClusterSim, env: np.ndarray, req: np.ndarray):
    """KV tokens to place, group size and fixed group start (-1 = free) for queued requests.

    A request kept on its GPUs must resume on its own group; others take the SP degree their
    KV needs (:meth:`ClusterSim.sp_degree_for`).
    """
    kept = (sim.state[env, req] == ReqState.PREEMPTED) & (
        sim.preempt_mode[env, req] == PreemptMode.KEEP
    )
    need = np.where(kept, 0.0, sim.kv_to_load(env, req))
    k = np.where(kept, sim.group_n[env, req], sim.sp_degree_for(sim.prefill_len[env, req]))
    fixed = np.where(kept, sim.group_lo[env, req], -1)
    return need, k, fixed


def feasible_starts(
    sim: ClusterSim,
    need: np.ndarray,
    k: np.ndarray,
    *,
    allow_busy: bool = False,
    kv_free: np.ndarray | None = None,
) -> np.ndarray:
    """``(E, I)``: may a group of ``k[e]`` instances starting at each instance take ``need[e]``
    KV tokens (and, unless ``allow_busy``, have no prefill running)?"""
    free = sim.kv_free() if kv_free is None else kv_free
    flags = free >= (need / k)[:, None] - 1e-9
    if not allow_busy:
        flags &= sim.prefill_free()
    return window_all(flags, k)


def least_loaded_start(
    sim: ClusterSim, feasible: np.ndarray, k: np.ndarray, kv_used: np.ndarray | None = None
) -> np.ndarray:
    """Per env, the feasible group start with the least KV in use (-1 where none)."""
    used = sim.kv_used() if kv_used is None else kv_used
    load = np.where(feasible, window_sum(used, k), np.inf)
    best = load.argmin(axis=1)
    return np.where(feasible.any(axis=1), best, -1)
