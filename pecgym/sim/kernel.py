"""The event clock compiled with numba: the same arithmetic as the NumPy path, one env and
one request at a time, so an event costs microseconds instead of a hundred NumPy calls.

Each function mirrors a method of :class:`~pecgym.sim.clock.EventClock` (named in its
docstring) operation for operation and in the same order, so that both paths give the same
floating-point results bit for bit (``tests/sim/test_sim_kernel.py`` holds them to it).
:func:`advance` runs events until every env is at a decision point or finished, each
event in three parts: :func:`instance_loads`, :func:`iteration_times` (the cost model's
``step_time``: its tables, and decode attention from its coefficients) and
:func:`run_event`. Powers use the C library's ``pow`` as the NumPy path does
(:func:`~pecgym.sim.costmodel.libm_pow`).

State is passed as the simulator's own arrays (see :mod:`pecgym.sim.fields`), in the order
of :data:`STATE_ARGS`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pecgym.sim.cluster_state import EPS, MAX_EVENTS_WITHOUT_PROGRESS
from pecgym.sim.state import DECODING, DONE, PREEMPTED, PREFILLING, RECOMPUTE, SWAP, WAITING

STATE_ARGS = (
    "clock", "first_live", "next_arrival", "state", "ready_at", "group_lo", "group_n",
    "kv_tokens", "prefill_req", "num_requests", "arrival", "prefill_work", "prefill_done",
    "input_tokens", "output_tokens", "generated", "swap_ready", "preempt_mode", "is_long",
    "exists", "horizon_at", "t_first_token", "t_finish", "decode_to", "last_start",
    "migrations", "num_done", "busy_time", "idle_time", "wait_area", "_kv_used", "num_events",
    "finished", "truncated", "stalled", "at_decision", "evictions", "resume_decode", "kv_host",
    "prefill_len", "busy_since", "iteration_time", "batch_mix",
)  # fmt: skip
"""The state arrays :func:`run_event` reads and writes, in its argument order; the first nine
are :func:`instance_loads`' state arguments."""
_CLOCK, _FINISHED, _AT_DECISION = map(STATE_ARGS.index, ("clock", "finished", "at_decision"))


@njit(cache=True)
def advance(active, scratch, tables, attention, settings, state):
    """``EventClock.advance`` after its set-up: events until no env in ``active`` is left
    (each stops at its decision point or its end). Returns the events run (summed over the
    envs) and whether it gave up after :data:`MAX_EVENTS_WITHOUT_PROGRESS` events without
    progress."""
    batch, context, prefilling, iteration = scratch
    chunk_tokens, token_table, prefill_table = tables
    clock, finished, at_decision = state[_CLOCK], state[_FINISHED], state[_AT_DECISION]
    events = 0
    stuck = 0
    while active.any():
        before = clock.copy()
        instance_loads(active, *state[:9], batch, context, prefilling)
        iteration_times(batch, context, prefilling, chunk_tokens, token_table, prefill_table,
                        attention, iteration)  # fmt: skip
        events += np.count_nonzero(active)
        run_event(active, iteration, batch, prefilling, *settings, *state)
        for e in range(active.size):
            active[e] = active[e] and not (at_decision[e] or finished[e])
        stuck = stuck + 1 if (before == clock).all() else 0
        if stuck > MAX_EVENTS_WITHOUT_PROGRESS:
            return events, True
    return events, False


@njit(cache=True)
def iteration_times(batch, context, prefilling, chunk_tokens, token_table, prefill_table,
                    attention, out):  # fmt: skip
    """``EventClock._iteration_times``: per instance, the time of one iteration (a prefill
    chunk beside the decode batch, or the batch alone), as ``CostModel.step_time``."""
    num_envs, num_instances = batch.shape
    for e in range(num_envs):
        for i in range(num_instances):
            batch_size = np.int64(batch[e, i])
            chunk = chunk_tokens if prefilling[e, i] and batch_size > 0 else 0
            tokens = chunk + batch_size
            t = token_table[tokens] + prefill_table[chunk]
            t = t + _decode_attention(batch_size, context[e, i], attention)
            out[e, i] = t if tokens > 0 else 0.0


@njit(cache=True)
def _decode_attention(queries, context, attention):
    """``CostModel._attention(queries, context, context)`` for one decode batch."""
    kv_layer, q_bytes, hbm, half, flop_per_pair, flops, layers, p = attention
    if queries <= 0:
        return 0.0
    t_mem = (context * kv_layer + queries * q_bytes) / hbm
    keys_per_query = max(context, 1.0) / max(queries, 1.0)
    t_cmp = flop_per_pair * context * (1.0 + half / keys_per_query) / flops
    return layers * (t_mem**p + t_cmp**p) ** (1.0 / p)


@njit(cache=True)
def instance_loads(active, clock, first_live, next_arrival, state, ready_at, group_lo, group_n,
                   kv_tokens, prefill_req, batch, context, prefilling):  # fmt: skip
    """Per instance of each active env: decode batch size and KV context of its ready decodes,
    and whether a ready prefill runs there (the first lines of ``_next_event``)."""
    num_envs, num_instances = batch.shape
    for e in range(num_envs):
        for i in range(num_instances):
            batch[e, i] = 0.0
            context[e, i] = 0.0
            prefilling[e, i] = False
        if not active[e]:
            continue
        now = clock[e]
        for r in range(first_live[e], next_arrival[e]):
            if state[e, r] == DECODING and ready_at[e, r] <= now:
                n = group_n[e, r]
                share = kv_tokens[e, r] / n
                for i in range(group_lo[e, r], group_lo[e, r] + n):
                    batch[e, i] += 1.0
                    context[e, i] += share
        for i in range(num_instances):
            batch[e, i] = np.rint(batch[e, i])
            context[e, i] = max(context[e, i], 0.0)
            slot = prefill_req[e, i]
            prefilling[e, i] = slot >= 0 and ready_at[e, slot] <= now


@njit(cache=True)
def _used(kv_used, e, i):
    """``kv_used()``: usage with rounding residue below 1e-6 read as 0."""
    value = kv_used[e, i]
    return value if value > 1e-6 else 0.0


@njit(cache=True)
def _add_group(kv_used, e, lo, n, amount):
    for i in range(lo, lo + n):
        kv_used[e, i] += amount


@njit(cache=True)
def _is_queued(state, preempt_mode, swap_ready, e, r, now):
    s = state[e, r]
    if s == WAITING:
        return True
    return s == PREEMPTED and (preempt_mode[e, r] != SWAP or swap_ready[e, r] <= now)


@njit(cache=True)
def _update_first_live(first_live, next_arrival, state, exists, e):
    """``_update_first_live`` for env ``e``."""
    first = next_arrival[e]
    for r in range(first_live[e], next_arrival[e]):
        if state[e, r] != DONE and exists[e, r]:
            first = r
            break
    first_live[e] = max(first_live[e], min(first, next_arrival[e]))


@njit(cache=True)
def _complete(e, reqs, count, clock, state, generated, output_tokens, t_finish, kv_tokens,
              group_lo, group_n, kv_used, num_done, first_live, next_arrival, exists):  # fmt: skip
    """``_complete`` of ``reqs[:count]`` in env ``e``."""
    if count == 0:
        return
    hits_first = False
    for k in range(count):
        r = reqs[k]
        state[e, r] = DONE
        generated[e, r] = output_tokens[e, r]
        t_finish[e, r] = clock[e]
        hits_first = hits_first or r == first_live[e]
    for k in range(count):
        r = reqs[k]
        if kv_tokens[e, r] > 0:
            n = group_n[e, r]
            _add_group(kv_used, e, group_lo[e, r], n, -1.0 * kv_tokens[e, r] / n)
    for k in range(count):
        r = reqs[k]
        kv_tokens[e, r] = 0.0
        num_done[e] += 1
    if hits_first:
        _update_first_live(first_live, next_arrival, state, exists, e)


@njit(cache=True)
def run_event(active, iteration, batch, prefilling, solo_chunk_time, kv_capacity, tick, gap,
              transfer, instances_per_node,
              clock, first_live, next_arrival, state, ready_at, group_lo, group_n,
              kv_tokens, prefill_req, num_requests, arrival, prefill_work, prefill_done,
              input_tokens, output_tokens, generated, swap_ready, preempt_mode, is_long,
              exists, horizon_at, t_first_token, t_finish, decode_to, last_start,
              migrations, num_done, busy_time, idle_time, wait_area, kv_used, num_events,
              finished, truncated, stalled, at_decision, evictions, resume_decode, kv_host,
              prefill_len, busy_since, iteration_time, batch_mix):  # fmt: skip
    """``_next_event`` after the iteration times: each active env moves to its next event
    and processes it. ``tick``/``gap`` are 0/inf when unset; ``transfer`` is the KV transfer
    cost (latency, bytes per token, NVLink and inter-node bandwidth)."""
    num_envs, num_instances = iteration.shape
    share = np.empty(num_instances)
    growth = np.empty(num_instances)
    moved_kv = np.empty(num_instances)
    for e in range(num_envs):
        if not active[e]:
            continue
        now = clock[e]
        lo_r, hi_r = first_live[e], next_arrival[e]
        size = hi_r - lo_r
        d_req = np.empty(size, np.int64)
        d_step = np.empty(size)
        d_done_at = np.empty(size)
        p_req = np.empty(size, np.int64)
        p_rate = np.empty(size)
        p_done_at = np.empty(size)
        nd = 0
        npf = 0
        for i in range(num_instances):
            share[i] = solo_chunk_time / max(iteration[e, i], EPS) if batch[e, i] > 0 else 1.0
            # ``_track_iterations``
            mix = 2 * np.int64(batch[e, i]) + (1 if prefilling[e, i] else 0)
            if prefilling[e, i] or batch[e, i] > 0:
                if np.isnan(busy_since[e, i]) or mix != batch_mix[e, i]:
                    busy_since[e, i] = now
                iteration_time[e, i] = iteration[e, i]
            else:
                busy_since[e, i] = np.nan
                iteration_time[e, i] = 0.0
            batch_mix[e, i] = mix

        # rates and the next event
        if next_arrival[e] < num_requests[e]:
            arrival_at = arrival[e, next_arrival[e]]
        else:
            arrival_at = np.inf
        t_next = arrival_at
        queued = 0
        long_queued = 0
        kv_sum = 0.0
        for r in range(lo_r, hi_r):
            s = state[e, r]
            kv_sum += kv_tokens[e, r]
            if _is_queued(state, preempt_mode, swap_ready, e, r, now):
                queued += 1
                if is_long[e, r]:
                    long_queued += 1
            if s != DECODING and s != PREFILLING:
                if s == PREEMPTED and preempt_mode[e, r] == SWAP and swap_ready[e, r] > now:
                    t_next = min(t_next, swap_ready[e, r])
                continue
            if not ready_at[e, r] <= now:
                t_next = min(t_next, ready_at[e, r])
                continue
            lo, n = group_lo[e, r], group_n[e, r]
            if s == DECODING:
                step = iteration[e, lo]
                for i in range(lo + 1, lo + n):
                    step = max(step, iteration[e, i])
                d_req[nd] = r
                d_step[nd] = step
                d_done_at[nd] = now + (output_tokens[e, r] - generated[e, r]) * step
                t_next = min(t_next, d_done_at[nd])
                nd += 1
            else:
                slowest = share[lo]
                for i in range(lo + 1, lo + n):
                    slowest = min(slowest, share[i])
                rate = slowest / prefill_work[e, r]
                p_req[npf] = r
                p_rate[npf] = rate
                p_done_at[npf] = now + (1.0 - prefill_done[e, r]) / rate
                t_next = min(t_next, p_done_at[npf])
                npf += 1

        # when an instance's KV cache fills up (``_memory_full_at``)
        full_at = np.inf
        if nd:
            left = 0.0
            for k in range(nd):
                left += output_tokens[e, d_req[k]] - generated[e, d_req[k]]
            if not kv_sum + left < kv_capacity * (1 - 1e-9):
                growth[:] = 0.0
                for k in range(nd):
                    r = d_req[k]
                    n = group_n[e, r]
                    _grow = 1.0 / (n * d_step[k])
                    for i in range(group_lo[e, r], group_lo[e, r] + n):
                        growth[i] += _grow
                for i in range(num_instances):
                    if growth[i] > EPS:
                        at = now + (kv_capacity - _used(kv_used, e, i)) / growth[i]
                        full_at = min(full_at, at)
        t_next = min(t_next, full_at)
        if tick > 0:
            t_next = min(t_next, (np.floor(now / tick + EPS) + 1.0) * tick)
        if queued:
            t_next = min(t_next, now + gap)
        t_next = max(min(t_next, horizon_at[e]), now)
        if not np.isfinite(t_next):  # nothing left to happen: the episode ends stalled
            stalled[e] = True
            truncated[e] = True
            finished[e] = True
            continue

        # advance every rate for dt
        dt = t_next - now
        moved_kv[:] = 0.0
        for k in range(nd):
            r = d_req[k]
            tokens = dt / d_step[k]
            generated[e, r] += tokens
            kv_tokens[e, r] += tokens
            n = group_n[e, r]
            for i in range(group_lo[e, r], group_lo[e, r] + n):
                moved_kv[i] += tokens / n
        for k in range(npf):
            prefill_done[e, p_req[k]] += p_rate[k] * dt
        for i in range(num_instances):
            if prefilling[e, i] or batch[e, i] > 0:
                busy_time[e, i] += dt
            else:
                idle_time[e, i] += dt
        wait_area[e, 0] += (queued - long_queued) * dt
        wait_area[e, 1] += long_queued * dt
        clock[e] = t_next
        for i in range(num_instances):
            kv_used[e, i] += moved_kv[i]
        num_events[e] += 1

        # what happens at t_next, in order: completions, memory, arrivals
        tol = EPS * max(1.0, t_next)
        limit = t_next + tol
        # finished prefills (``_finish_prefills``)
        done = np.empty(npf, np.int64)
        ndone = 0
        for k in range(npf):
            if p_done_at[k] <= limit:
                r = p_req[k]
                for i in range(group_lo[e, r], group_lo[e, r] + group_n[e, r]):
                    prefill_req[e, i] = -1
                    busy_since[e, i] = t_next  # an iteration ends (``_iterations_end``)
                prefill_done[e, r] = 1.0
                if np.isnan(t_first_token[e, r]):
                    t_first_token[e, r] = t_next
                    generated[e, r] = 1.0
                else:
                    generated[e, r] = generated[e, r] + 1.0
                done[ndone] = r
                ndone += 1
        complete = np.empty(ndone, np.int64)
        ncomplete = 0
        for k in range(ndone):
            if generated[e, done[k]] >= output_tokens[e, done[k]]:
                complete[ncomplete] = done[k]
                ncomplete += 1
        _complete(e, complete, ncomplete, clock, state, generated, output_tokens, t_finish,
                  kv_tokens, group_lo, group_n, kv_used, num_done, first_live, next_arrival,
                  exists)  # fmt: skip
        moving = np.empty(ndone, np.int64)
        nmoving = 0
        for k in range(ndone):
            r = done[k]
            if generated[e, r] >= output_tokens[e, r]:
                continue
            state[e, r] = DECODING
            last_start[e, r] = clock[e]
            target = decode_to[e, r]
            if target >= 0 and not (group_n[e, r] == 1 and group_lo[e, r] == target):
                moving[nmoving] = r
                nmoving += 1
        if nmoving:
            _move_decodes(e, moving, nmoving, kv_capacity, transfer, instances_per_node, clock,
                          kv_tokens, decode_to, group_lo, group_n, ready_at, migrations,
                          kv_used)  # fmt: skip

        # finished decodes (``_complete_where``)
        finishing = np.empty(nd, np.int64)
        nfinishing = 0
        for k in range(nd):
            if d_done_at[k] <= limit:
                r = d_req[k]
                finishing[nfinishing] = r
                nfinishing += 1
                for i in range(group_lo[e, r], group_lo[e, r] + group_n[e, r]):
                    busy_since[e, i] = t_next
        _complete(e, finishing, nfinishing, clock, state, generated, output_tokens, t_finish,
                  kv_tokens, group_lo, group_n, kv_used, num_done, first_live, next_arrival,
                  exists)  # fmt: skip

        # a full instance evicts its newest decode (``_evict_on_full``)
        if full_at <= limit:
            victim = -1
            for r in range(first_live[e], next_arrival[e]):
                if state[e, r] != DECODING:
                    continue
                on_full = False
                for i in range(group_lo[e, r], group_lo[e, r] + group_n[e, r]):
                    on_full = on_full or _used(kv_used, e, i) >= kv_capacity * (1 - 1e-12)
                if on_full and (victim < 0 or last_start[e, r] >= last_start[e, victim]):
                    victim = r
            if victim >= 0:
                r = victim
                evictions[e, r] += 1
                state[e, r] = PREEMPTED
                preempt_mode[e, r] = RECOMPUTE
                resume_decode[e, r] = False
                kv_host[e, r] = 0.0
                swap_ready[e, r] = 0.0
                kept = np.floor(generated[e, r])
                generated[e, r] = kept
                prefill_len[e, r] = input_tokens[e, r] + np.int64(kept)
                prefill_done[e, r] = 0.0
                if kv_tokens[e, r] > 0:
                    n = group_n[e, r]
                    _add_group(kv_used, e, group_lo[e, r], n, -1.0 * kv_tokens[e, r] / n)
                kv_tokens[e, r] = 0.0

        # arrivals (``_arrive``)
        if arrival_at <= limit:
            arrive_by = clock[e] * (1 + EPS) + EPS
            while next_arrival[e] < num_requests[e] and arrival[e, next_arrival[e]] <= arrive_by:
                state[e, next_arrival[e]] = WAITING
                next_arrival[e] += 1

        # the episode's end and the next decision (``_mark_decisions``)
        all_done = num_done[e] >= num_requests[e]
        at_horizon = t_next >= horizon_at[e] - tol
        if at_horizon and not all_done:
            truncated[e] = True
        if all_done or at_horizon:
            finished[e] = True
        queue = False
        for r in range(first_live[e], next_arrival[e]):
            if _is_queued(state, preempt_mode, swap_ready, e, r, t_next):
                queue = True
                break
        if queue and tick > 0:
            ticks = t_next / tick
            queue = abs(ticks - np.rint(ticks)) <= EPS * max(1.0, ticks)
        if queue:
            at_decision[e] = True


@njit(cache=True)
def _move_decodes(e, reqs, count, kv_capacity, transfer, instances_per_node, clock, kv_tokens,
                  decode_to, group_lo, group_n, ready_at, migrations, kv_used):  # fmt: skip
    """``_move_decodes`` of ``reqs[:count]`` in env ``e`` to their ``decode_to`` instances."""
    latency, kv_token_bytes, nvlink, internode = transfer
    fits = np.empty(count, np.bool_)
    for k in range(count):
        r = reqs[k]
        target = decode_to[e, r]
        fits[k] = max(kv_capacity - _used(kv_used, e, target), 0.0) >= kv_tokens[e, r]
        for j in range(k):  # two moves to one instance at once: only the first may go
            if decode_to[e, reqs[j]] == target:
                fits[k] = False
    for k in range(count):
        if fits[k]:
            r = reqs[k]
            n = group_n[e, r]
            _add_group(kv_used, e, group_lo[e, r], n, -kv_tokens[e, r] / n)
    for k in range(count):
        if fits[k]:
            r = reqs[k]
            kv = kv_tokens[e, r]
            target = decode_to[e, r]
            cross = group_lo[e, r] // instances_per_node != target // instances_per_node
            delay = 0.0
            if kv > 0:
                delay = latency + kv * kv_token_bytes / (internode if cross else nvlink)
            kv_used[e, target] += kv
            group_lo[e, r] = target
            group_n[e, r] = 1
            ready_at[e, r] = max(clock[e], ready_at[e, r]) + delay
            migrations[e, r] += 1
