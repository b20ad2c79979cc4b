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
    sim: ClusterSim, envs: np.ndarray, need: np.ndarray, k: np.ndarray, *, allow_busy: bool = False
) -> np.ndarray:
    """``(len(envs), I)``: may a group of ``k[j]`` instances starting at each instance of env
    ``envs[j]`` take ``need[j]`` KV tokens (and, unless ``allow_busy``, have no prefill
    running)?"""
    flags = _room(sim, envs, need, k)
    if not allow_busy:
        flags &= sim.prefill_free()[envs]
    return window_all(flags, k)


def _room(sim: ClusterSim, envs: np.ndarray, need: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``(len(envs), I)``: has each instance room for its share of ``need[j]`` over ``k[j]``?"""
    return sim.kv_free()[envs] >= (need / k)[:, None] - 1e-9


def least_loaded_start(
    sim: ClusterSim, envs: np.ndarray, feasible: np.ndarray, k: np.ndarray
) -> np.ndarray:
    """Per listed env, the feasible group start with the least KV in use (-1 where none)."""
    load = np.where(feasible, window_sum(sim.kv_used()[envs], k), np.inf)
    return np.where(feasible.any(axis=1), load.argmin(axis=1), -1)


def choose_starts(
    sim: ClusterSim, envs: np.ndarray, need: np.ndarray, k: np.ndarray, preempt: np.ndarray
) -> np.ndarray:
    """Per listed env, the least-loaded start of a group of ``k[j]`` instances with room for
    ``need[j]`` KV tokens: among groups with no prefill running, else (where ``preempt[j]``)
    among all groups; -1 where there is none."""
    room = _room(sim, envs, need, k)
    idle = room & sim.prefill_free()[envs]
    # both searches at once: rows for idle groups, then rows for any group
    twice, k_twice = np.concatenate((envs, envs)), np.concatenate((k, k))
    feasible = window_all(np.concatenate((idle, room)), k_twice)
    best = least_loaded_start(sim, twice, feasible, k_twice)
    on_idle, on_any = best[: envs.size], best[envs.size :]
    return np.where(on_idle >= 0, on_idle, np.where(preempt, on_any, -1))
