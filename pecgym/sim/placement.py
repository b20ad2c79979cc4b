"""Where a request can start: feasible instance groups, computed for all envs at once."""

from __future__ import annotations

import numpy as np

from pecgym.sim.groups import window_all, window_sum
from pecgym.sim.simulator import ROOM_TOLERANCE, ClusterSim

_PENALTY = 1e12
"""Added to a placement score to make an instance a last resort (KV used is < 1e9 tokens)."""


def room_for(free: np.ndarray, need: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``(rows, I)``: has each instance room for its share of ``need[j]`` over ``k[j]``?"""
    return free >= (need / k)[:, None] - ROOM_TOLERANCE


def best_group(
    sim: ClusterSim,
    envs: np.ndarray,
    req: np.ndarray,
    *,
    allowed: np.ndarray | None = None,
    busy_ok: np.ndarray | None = None,
    avoid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Where each queued ``req`` (one per row of ``envs``) can start now: ``(lo, n)``.

    A group of the size the request's KV needs (its own group if it was paused with its KV
    kept) whose instances all have room for its KV, are in ``allowed`` and run no prefill
    (unless ``busy_ok`` there, which the START must then preempt; a decode resuming in place
    needs no prefill slot). Among feasible groups the one with the least KV in use wins;
    instances in ``avoid`` count as nearly full. ``lo`` is -1 where nothing fits, and for a
    negative ``req`` (no candidate). With no options this is the env's "auto" placement.
    """
    if sim.runs_compiled():
        return _best_group_compiled(sim, envs, req, allowed, busy_ok, avoid)
    given = req >= 0
    if not given.any():
        return np.full(envs.size, -1), np.ones(envs.size, dtype=np.int64)
    req = np.maximum(req, 0)
    need, k, fixed = sim.start_requirements(envs, req)
    flags = room_for(sim.kv_free()[envs], need, k)
    idle = sim.prefill_free()[envs] | ~sim.needs_prefill_slot(envs, req)[:, None]
    if busy_ok is not None:
        idle = idle | busy_ok
    flags &= idle
    if allowed is not None:
        flags &= allowed
    feasible = window_all(flags, k)
    load = sim.kv_used()[envs]
    if avoid is not None:
        load = load + _PENALTY * avoid
    score = np.where(feasible, window_sum(load, k), np.inf)
    lo = np.where(feasible.any(axis=1), score.argmin(axis=1), -1)
    own = feasible[np.arange(envs.size), np.maximum(fixed, 0)]
    lo = np.where(fixed >= 0, np.where(own, fixed, -1), lo)
    return np.where(given, lo, -1), k


def _best_group_compiled(sim: ClusterSim, envs, req, allowed, busy_ok, avoid):
    """:func:`best_group` by the compiled START module (the same groups bit for bit)."""
    from pecgym.sim.kernel_start import best_groups

    envs, req = np.asarray(envs, dtype=np.int64), np.asarray(req, dtype=np.int64)
    shape = (envs.size, sim.num_instances)
    masks = [None if m is None else np.broadcast_to(m, shape) for m in (allowed, busy_ok, avoid)]
    return best_groups(
        envs, req, *masks, _PENALTY, sim.sp_tokens_per_instance(), sim.kv_used(), sim.kv_free(),
        sim.state, sim.preempt_mode, sim.resume_decode, sim.kv_host, sim.prefill_len,
        sim.group_lo, sim.group_n, sim.prefill_req,
    )  # fmt: skip


def decode_pool_target(sim: ClusterSim, envs: np.ndarray, req: np.ndarray) -> np.ndarray:
    """Per listed request, the decode-pool instance with the most free KV if it has room
    for the prompt and its first token, else -1 (:attr:`ClusterConfig.decode_pool`)."""
    size = sim.config.decode_pool_size
    if not size:
        return np.full(envs.size, -1)
    pool = np.arange(sim.num_instances) >= sim.num_instances - size
    free = np.where(pool[None, :], sim.kv_free()[envs], -np.inf)
    best = free.argmax(axis=1)
    fits = free[np.arange(envs.size), best] >= sim.prefill_len[envs, req] + 1
    return np.where(fits, best, -1)
