"""The action codec's hot half compiled with numba (see :mod:`pecgym.envs.actions`).

:func:`decode_actions` and :func:`encode_starts` mirror :func:`~pecgym.envs.actions.decode`
and the START part of :func:`~pecgym.envs.actions.encode` one env at a time, so both paths
give the same commands and actions (``tests/sim/test_sim_kernel.py`` runs whole episodes
through each). The group of a START with "auto" placement is left to the caller: it is
:func:`~pecgym.sim.placement.best_group`'s search.
"""

from __future__ import annotations

from numba import njit

from pecgym.sim.kernel_start import _group_size, _needs_prefill_slot, _pool_target
from pecgym.sim.state import KEEP, OP_NOOP, OP_START

CODEC_ARGS = (
    "state", "preempt_mode", "resume_decode", "prefill_len", "group_n", "prefill_req",
)  # fmt: skip
"""The state fields the codec reads (besides free KV), in its argument order."""


@njit(cache=True, boundscheck=True)
def decode_actions(actions, slots, layout, modes, op_of_kind, pool_size, per_instance, kv_free,
                   state, preempt_mode, resume_decode, prefill_len, group_n, prefill_req, op,
                   req, lo, n, decode_to, mode, auto):  # fmt: skip
    """``decode`` into the command arrays (which hold :meth:`Commands.empty`), and ``auto``:
    the envs whose START has auto placement (``lo`` -1 there, for the caller to search)."""
    queue_rows, placements, preempt_offset, migrate_offset, num_instances = layout
    for e in range(actions.size):
        action = actions[e]
        if action == 0:
            kind, row, a, b = 0, 0, 0, 0
        elif action < preempt_offset:
            local = action - 1
            kind, row, a, b = 1, local // (2 * placements), local // 2 % placements, local % 2
        elif action < migrate_offset:
            local = action - preempt_offset
            kind, row, a, b = 2, local // modes.size, local % modes.size, 0
        else:
            local = action - migrate_offset
            kind, row, a, b = 3, local // num_instances, local % num_instances, 0
        column = row if kind == 1 else queue_rows + row
        r = slots[e, min(column, slots.shape[1] - 1)]
        op[e] = OP_NOOP if r < 0 else op_of_kind[kind]
        req[e] = max(r, 0)
        if op[e] == OP_START:
            k = _group_size(e, r, per_instance, num_instances, state, preempt_mode, prefill_len,
                            group_n)  # fmt: skip
            auto[e] = a == 0
            lo[e] = a - 1
            n[e] = k
            mode[e] = 0 if auto[e] else KEEP
            target = -1
            if _needs_prefill_slot(e, r, state, preempt_mode, resume_decode):
                target = _pool_target(e, r, pool_size, kv_free, prefill_len)
            decode_to[e] = (target if target >= 0 else -2) if b == 1 else -1
        elif kind == 2 and r >= 0:
            mode[e] = modes[min(a, modes.size - 1)]
        elif kind == 3 and r >= 0:
            lo[e] = a


@njit(cache=True, boundscheck=True)
def encode_starts(env, req, lo, size, decode_to, mode, slots, row_rank, layout, pool_size,
                  per_instance, kv_free, state, preempt_mode, resume_decode, prefill_len,
                  group_n, prefill_req, actions, ok):  # fmt: skip
    """The START part of ``encode`` for the commands listed (all STARTs): each command's
    action into ``actions[env]``, and whether it has one into ``ok``."""
    queue_rows, placements, _, _, num_instances = layout
    for j in range(env.size):
        e, r = env[j], req[j]
        row, best = 0, -1
        for c in range(queue_rows):
            if slots[e, c] == r and (best < 0 or row_rank[c] < best):
                row, best = c, row_rank[c]
        if best < 0:  # not on view
            ok[j] = False
            continue
        k = _group_size(e, r, per_instance, num_instances, state, preempt_mode, prefill_len,
                        group_n)  # fmt: skip
        target = _pool_target(e, r, pool_size, kv_free, prefill_len)
        to = decode_to[j]
        disaggregate = to >= 0 and to == target
        at = min(max(lo[j], 0), num_instances - 1)
        busy = False
        for i in range(at, min(at + min(max(size[j], 1), num_instances), num_instances)):
            busy = busy or prefill_req[e, i] >= 0
        busy = busy and _needs_prefill_slot(e, r, state, preempt_mode, resume_decode)
        pause_ok = mode[j] == KEEP if busy else (mode[j] == 0 or mode[j] == KEEP)
        valid = size[j] == k and (to == -1 or disaggregate) and pause_ok and lo[j] >= 0
        ok[j] = valid
        if valid:
            actions[e] = 1 + (row * placements + at + 1) * 2 + (1 if disaggregate else 0)
