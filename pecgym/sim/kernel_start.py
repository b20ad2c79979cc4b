"""START commands compiled with numba: their requirements, checks and launches.

Like the compiled clock (:mod:`pecgym.sim.kernel`), each function mirrors a method of
:class:`~pecgym.sim.commands.CommandRunner` (named in its docstring) operation for operation,
one command at a time, so both paths give the same results bit for bit
(``tests/sim/test_sim_kernel.py``). State is passed as the simulator's own arrays, in the
order of :data:`START_ARGS`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pecgym.sim.cluster_state import EPS, ROOM_TOLERANCE
from pecgym.sim.kernel import _add_group, _is_queued, _used
from pecgym.sim.state import (
    DECODING,
    KEEP,
    NO_PREEMPT,
    PREEMPTED,
    PREFILLING,
    R_ACTED,
    R_BAD_INSTANCES,
    R_BAD_MODE,
    R_BAD_REQUEST,
    R_BUSY,
    R_NO_BUDGET,
    R_NO_MEMORY,
    R_NOT_READY,
    R_OK,
    RECOMPUTE,
    SWAP,
)

START_ARGS = (
    "clock", "num_requests", "exists", "state", "preempt_mode", "resume_decode", "kv_host",
    "prefill_len", "input_tokens", "group_lo", "group_n", "swap_ready", "acted_at",
    "moves_used", "prefill_req", "_kv_used", "kv_tokens", "ready_at", "busy_since",
    "iteration_time", "t_start", "last_start", "decode_to", "prompt_prefill_work",
    "prefill_work",
)  # fmt: skip
"""The state arrays the START kernels read and write, in :func:`launch`'s argument order; the
first :data:`CHECK_ARGS` are :func:`check_start`'s."""
CHECK_ARGS = 16


@njit(cache=True, boundscheck=True)
def start_requirements(env, req, per_instance, num_instances, state, preempt_mode,
                       resume_decode, kv_host, prefill_len, group_lo, group_n):  # fmt: skip
    """``start_requirements`` (with ``kv_to_load`` and ``sp_degree_for``) of each request."""
    need = np.empty(env.size)
    k = np.empty(env.size, np.int64)
    fixed = np.empty(env.size, np.int64)
    for j in range(env.size):
        need[j], k[j], fixed[j] = _requirement(
            env[j], req[j], per_instance, num_instances, state, preempt_mode, resume_decode,
            kv_host, prefill_len, group_lo, group_n,
        )  # fmt: skip
    return need, k, fixed


@njit(cache=True)
def _requirement(e, r, per_instance, num_instances, state, preempt_mode, resume_decode, kv_host,
                 prefill_len, group_lo, group_n):  # fmt: skip
    """``start_requirements`` of one request: KV to place, group size, fixed group start."""
    preempted = state[e, r] == PREEMPTED
    k = _group_size(e, r, per_instance, num_instances, state, preempt_mode, prefill_len, group_n)
    if preempted and preempt_mode[e, r] == KEEP:
        return 0.0, k, group_lo[e, r]
    if preempted and preempt_mode[e, r] == SWAP and resume_decode[e, r]:
        return kv_host[e, r], k, -1
    return np.float64(prefill_len[e, r]), k, -1


@njit(cache=True)
def _group_size(e, r, per_instance, num_instances, state, preempt_mode, prefill_len, group_n):
    """The group size of ``start_requirements``: its own group's for a request kept in
    place, else ``sp_degree_for`` its prefill length."""
    if state[e, r] == PREEMPTED and preempt_mode[e, r] == KEEP:
        return group_n[e, r]
    k = np.int64(np.ceil(prefill_len[e, r] / per_instance))
    return min(max(k, 1), num_instances)


@njit(cache=True)
def _needs_prefill_slot(e, r, state, preempt_mode, resume_decode):
    """``needs_prefill_slot``: a paused decode that kept or swapped its KV needs none."""
    resumes = state[e, r] == PREEMPTED and resume_decode[e, r]
    return not (resumes and preempt_mode[e, r] != RECOMPUTE)


@njit(cache=True)
def check_start(env, req, lo, n, decode_to, mode, per_instance, num_instances, kv_capacity,
                move_budget, clock, num_requests, exists, state, preempt_mode, resume_decode,
                kv_host, prefill_len, input_tokens, group_lo, group_n, swap_ready, acted_at,
                moves_used, prefill_req, kv_used):  # fmt: skip
    """``_check_start``: the reason per command, then the launches of the valid ones
    (env, req, lo, n, decode_to, needs_slot, need, parks) and the prefills they pause (env,
    req, mode: in command and instance order, not yet made unique). ``move_budget`` is -1
    for none."""
    size = env.size
    reason = np.full(size, R_OK, np.int64)
    go_lo = np.empty(size, np.int64)
    go_n = np.empty(size, np.int64)
    go_req = np.empty(size, np.int64)
    go_slot = np.empty(size, np.bool_)
    go_need = np.empty(size)
    go_busy = np.empty(size, np.bool_)
    victims = np.empty((size * num_instances, 3), np.int64)
    num_victims = 0
    for j in range(size):
        e = env[j]
        now = clock[e]
        ok = 0 <= req[j] < num_requests[e]
        r = req[j] if ok else 0
        ok = ok and exists[e, r]
        queued = _is_queued(state, preempt_mode, swap_ready, e, r, now)
        if not (ok and queued):
            reason[j] = R_BAD_REQUEST
        swap_pending = state[e, r] == PREEMPTED and preempt_mode[e, r] == SWAP and not queued
        if ok and swap_pending:
            reason[j] = R_NOT_READY
        if reason[j] == R_OK and acted_at[e, r] >= now:
            reason[j] = R_ACTED
        g_lo, g_n = lo[j], n[j]
        bad_group = (
            g_lo < 0 or g_n < 1 or g_lo + g_n > num_instances or decode_to[j] < -1
            or decode_to[j] >= num_instances
        )  # fmt: skip
        need, own_n, fixed = _requirement(
            e, r, per_instance, num_instances, state, preempt_mode, resume_decode, kv_host,
            prefill_len, group_lo, group_n,
        )  # fmt: skip
        elsewhere = fixed >= 0 and (g_lo != fixed or g_n != own_n)
        if reason[j] == R_OK and (bad_group or elsewhere):
            reason[j] = R_BAD_INSTANCES
        if reason[j] == R_OK and (mode[j] < 0 or mode[j] > RECOMPUTE):
            reason[j] = R_BAD_MODE
        g_lo, g_n = min(max(g_lo, 0), num_instances - 1), min(max(g_n, 1), num_instances)
        g_lo = min(g_lo, num_instances - g_n)
        needs_slot = _needs_prefill_slot(e, r, state, preempt_mode, resume_decode)
        busy = False
        acted = False
        broke = False
        for i in range(g_lo, g_lo + g_n):
            victim = prefill_req[e, i]
            if victim >= 0 and needs_slot:
                busy = True
                acted = acted or acted_at[e, victim] >= now
                if mode[j] != KEEP and move_budget >= 0:
                    broke = broke or move_budget - moves_used[e, victim] < 1
        if reason[j] == R_OK and busy and mode[j] == NO_PREEMPT:
            reason[j] = R_BUSY
        if reason[j] == R_OK and acted:
            reason[j] = R_ACTED
        if reason[j] == R_OK and broke:
            reason[j] = R_NO_BUDGET
        share = need / g_n - ROOM_TOLERANCE
        for i in range(g_lo, g_lo + g_n):
            free = max(kv_capacity - _used(kv_used, e, i), 0.0)
            if reason[j] == R_OK and free < share:
                reason[j] = R_NO_MEMORY
        go_req[j], go_lo[j], go_n[j] = r, g_lo, g_n
        go_slot[j], go_need[j], go_busy[j] = needs_slot, need, busy
        if reason[j] == R_OK and busy:
            for i in range(g_lo, g_lo + g_n):
                if prefill_req[e, i] >= 0:
                    victims[num_victims, 0] = e
                    victims[num_victims, 1] = prefill_req[e, i]
                    victims[num_victims, 2] = mode[j]
                    num_victims += 1
    go = reason == R_OK
    launch = (env[go], go_req[go], go_lo[go], go_n[go], decode_to[go], go_slot[go],
              go_need[go], go_busy[go])  # fmt: skip
    return reason, launch, victims[:num_victims]


@njit(cache=True)
def launch(env, req, lo, n, decode_to, needs_slot, need, parks, clock, num_requests, exists,
           state, preempt_mode, resume_decode, kv_host, prefill_len, input_tokens, group_lo,
           group_n, swap_ready, acted_at, moves_used, prefill_req, kv_used, kv_tokens, ready_at,
           busy_since, iteration_time, t_start, last_start, decode_to_state,
           prompt_prefill_work, prefill_work):  # fmt: skip
    """``_launch`` of checked STARTs (distinct envs). Returns False, changing nothing, when
    one needs the cost model (a swap-in, or a prefill longer than the prompt): the NumPy
    path launches those."""
    for j in range(env.size):
        e, r = env[j], req[j]
        if preempt_mode[e, r] == SWAP or (
            needs_slot[j] and prefill_len[e, r] != input_tokens[e, r]
        ):
            return False
    num_instances = kv_used.shape[1]
    for j in range(env.size):
        e, r, g_lo, g_n = env[j], req[j], lo[j], n[j]
        now = clock[e]
        mode = preempt_mode[e, r]
        ready = now
        if mode == KEEP:
            ready = max(ready, ready_at[e, r])
        if mode == KEEP or parks[j]:
            admitted = now
        else:
            admitted = _admission_time(e, g_lo, g_n, now, busy_since, iteration_time)
        ready = max(ready, admitted)
        moved = group_lo[e, r] != g_lo or group_n[e, r] != g_n
        fresh = mode != KEEP and needs_slot[j]
        if np.isnan(t_start[e, r]):
            t_start[e, r] = admitted
        load = mode != KEEP
        if load:
            kv_tokens[e, r] = need[j]
        kv_host[e, r] = 0.0
        group_lo[e, r] = g_lo
        group_n[e, r] = g_n
        ready_at[e, r] = ready
        last_start[e, r] = now
        preempt_mode[e, r] = NO_PREEMPT
        if load and need[j] > 0:
            _add_group(kv_used, e, g_lo, g_n, 1.0 * need[j] / g_n)
        if needs_slot[j]:
            decode_to_state[e, r] = decode_to[j]
            if fresh or moved:
                prefill_work[e, r] = prompt_prefill_work[e, r, g_n - 1]
            state[e, r] = PREFILLING
            resume_decode[e, r] = False
            for i in range(g_lo, min(g_lo + g_n, num_instances)):
                prefill_req[e, i] = r
        else:
            state[e, r] = DECODING
            resume_decode[e, r] = False
    return True


@njit(cache=True)
def _admission_time(e, lo, n, now, busy_since, iteration_time):
    """``admission_time`` of group ``[lo, lo + n)``: the end of the iteration running there."""
    boundary = -np.inf
    for i in range(lo, lo + n):
        length = iteration_time[e, i]
        if length > 0:
            laps = np.ceil((now - busy_since[e, i]) / length - EPS)
            boundary = max(boundary, busy_since[e, i] + max(laps, 0.0) * length)
    return max(boundary, now)


@njit(cache=True)
def _pool_target(e, r, pool_size, kv_free, prefill_len):
    """``decode_pool_target``: the decode-pool instance with the most free KV if it has room
    for the prompt and its first token, else -1."""
    if pool_size == 0:
        return -1
    num_instances = kv_free.shape[1]
    best, most = -1, -np.inf
    for i in range(num_instances - pool_size, num_instances):
        if kv_free[e, i] > most:
            best, most = i, kv_free[e, i]
    return best if most >= prefill_len[e, r] + 1 else -1


@njit(cache=True, boundscheck=True)
def best_groups(envs, req, allowed, busy_ok, avoid, penalty, per_instance, kv_used, kv_free, state,
                preempt_mode, resume_decode, kv_host, prefill_len, group_lo, group_n,
                prefill_req):  # fmt: skip
    """``best_group`` of each (env, request) with ``req >= 0`` (the others get -1): the
    feasible group with the least KV in use (``allowed``, ``busy_ok``, ``avoid`` are
    ``(len(envs), I)`` masks or None; ``penalty`` is what an avoided instance adds to the
    load). Returns ``(lo, k)``."""
    num_instances = kv_used.shape[1]
    lo = np.full(envs.size, -1, np.int64)
    k = np.ones(envs.size, np.int64)
    if not (req >= 0).any():
        return lo, k
    flags = np.empty(num_instances, np.bool_)
    sums = np.empty(num_instances + 1)
    for j in range(envs.size):
        e, r = envs[j], max(req[j], 0)
        need, size, fixed = _requirement(
            e, r, per_instance, num_instances, state, preempt_mode, resume_decode, kv_host,
            prefill_len, group_lo, group_n,
        )  # fmt: skip
        k[j] = size
        if req[j] < 0:
            continue
        share = need / size - ROOM_TOLERANCE
        slot_free = not _needs_prefill_slot(e, r, state, preempt_mode, resume_decode)
        sums[0] = 0.0
        for i in range(num_instances):
            idle = prefill_req[e, i] < 0 or slot_free
            if busy_ok is not None:
                idle = idle or busy_ok[j, i]
            flags[i] = kv_free[e, i] >= share and idle
            if allowed is not None:
                flags[i] = flags[i] and allowed[j, i]
            load = kv_used[e, i]
            if avoid is not None:
                load = load + (penalty if avoid[j, i] else 0.0)
            sums[i + 1] = sums[i] + load
        best, best_score, own = -1, np.inf, False
        for start in range(num_instances - size + 1):
            feasible = True
            for i in range(start, start + size):
                feasible = feasible and flags[i]
            if not feasible:
                continue
            own = own or start == fixed
            score = sums[start + size] - sums[start]
            if best < 0 or score < best_score:
                best, best_score = start, score
        if fixed >= 0:
            best = fixed if own else -1
        lo[j] = best
    return lo, k
