"""The action codec: a flat ``Discrete`` over the decisions the env enumerates, with exact masks.

Index layout (``Q`` queue rows, ``R`` running rows, ``I`` instances; rows as in the
observation's ``requests``):

=====================  ==================================================================
``0``                  WAIT: let time run to the next decision point
START ``(q, p, d)``    start or resume the request of queue row ``q``; placement ``p``:
                       0 = auto (the least-loaded group of the size its KV needs with room
                       and no prefill running), ``g + 1`` = the group starting at instance
                       ``g`` (prefills running there are paused, KV kept); decode ``d``:
                       0 = where the prefill ran, 1 = disaggregated (moved at the end of the
                       prefill to the decode-pool instance with the most free KV)
PREEMPT ``(r, m)``     pause the request of running row ``r``; ``m``: keep the KV on the
                       GPUs, swap it to host memory, or drop it (recompute)
MIGRATE ``(r, t)``     move the decode of running row ``r`` to instance ``t``
=====================  ==================================================================

START indices are ``1 + (q * (I + 1) + p) * 2 + d``, then ``R * 3`` PREEMPT indices, then
``R * I`` MIGRATE indices. The group size is not a choice: it is what the request's KV needs
(or its own group when its KV was kept), as in PecSched.

Why a flat ``Discrete``: its mask says exactly which *whole* decisions are valid (a
factored space's per-field masks cannot say which instance is allowed for which request), so
a masked sample is always carried out. Every heuristic's decisions map onto it exactly
(:func:`encode`), and "auto" placements let a learner start a request without learning
placement first. Masks mirror the simulator's checks (:meth:`ClusterSim.check`); a test
holds them equal on every candidate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from pecgym.envs.rows import RowView
from pecgym.sim.groups import group_members, window_all
from pecgym.sim.placement import best_group, decode_pool_target, room_for
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import (
    DECODING,
    KEEP,
    OP_MIGRATE,
    OP_NOOP,
    OP_PREEMPT,
    OP_START,
    PREFILLING,
    RECOMPUTE,
    SWAP,
)

WAIT = 0
MODES = (KEEP, SWAP, RECOMPUTE)
MODE_NAMES = ("keep", "swap", "recompute")
MODE_ARRAY = np.array(MODES)
KINDS = ("wait", "start", "preempt", "migrate")
OP_OF_KIND = np.array([OP_NOOP, OP_START, OP_PREEMPT, OP_MIGRATE])
"""The simulator command of each kind of action."""
NO_RANK = np.iinfo(np.int64).max


@dataclass(frozen=True)
class ActionLayout:
    """Sizes and offsets of the flat action space."""

    num_instances: int
    queue_rows: int
    running_rows: int
    view_size: int = 0
    """Rows per queue view (0: the queue rows are one view)."""

    @property
    def placements(self) -> int:
        """Placement options per queue row: auto, then one per group start."""
        return self.num_instances + 1

    @property
    def preempt_offset(self) -> int:
        return 1 + self.queue_rows * self.placements * 2

    @property
    def migrate_offset(self) -> int:
        return self.preempt_offset + self.running_rows * len(MODES)

    @property
    def size(self) -> int:
        """Number of actions."""
        return self.migrate_offset + self.running_rows * self.num_instances

    @property
    def kind_bounds(self) -> np.ndarray:
        """Start index of each kind's block (:data:`KINDS` order), then :attr:`size`."""
        return np.array([0, 1, self.preempt_offset, self.migrate_offset, self.size])

    @functools.cached_property
    def kernel_layout(self) -> tuple[int, int, int, int, int]:
        """Queue rows, placements, PREEMPT and MIGRATE offsets, instances (the compiled
        codec's view of the layout)."""
        return (
            self.queue_rows, self.placements, self.preempt_offset, self.migrate_offset,
            self.num_instances,
        )  # fmt: skip

    @functools.cached_property
    def row_rank(self) -> np.ndarray:
        """Per queue row, its rank when a request is on several views: rows nearer the top
        of their view first, then earlier views."""
        columns = np.arange(self.queue_rows)
        return columns % (self.view_size or self.queue_rows) * self.queue_rows + columns

    def start(self, row, placement, disaggregate) -> np.ndarray:
        """Index of START (queue row, placement, decode option)."""
        return 1 + (np.asarray(row) * self.placements + placement) * 2 + disaggregate

    def preempt(self, row, mode_index) -> np.ndarray:
        """Index of PREEMPT (running row, mode index into :data:`MODES`)."""
        return self.preempt_offset + np.asarray(row) * len(MODES) + mode_index

    def migrate(self, row, target) -> np.ndarray:
        """Index of MIGRATE (running row, target instance)."""
        return self.migrate_offset + np.asarray(row) * self.num_instances + target

    def split(self, actions: np.ndarray):
        """``(kind, row, a, b)`` arrays for action indices: kind 0-3 (:data:`KINDS`), the
        row (queue row for START, running row otherwise), and the option fields (START:
        placement and decode; PREEMPT: mode index; MIGRATE: target)."""
        actions = np.asarray(actions, dtype=np.int64)
        bounds, per_row, step, values = self._split_tables
        kind = np.searchsorted(bounds[1:-1], actions, side="right")
        local = actions - bounds[kind]
        row = local // per_row[kind]
        a = (local // step[kind]) % values[kind]
        b = np.where(kind == 1, local % 2, 0)
        return kind, row, a, b

    @functools.cached_property
    def _split_tables(self) -> tuple[np.ndarray, ...]:
        """:attr:`kind_bounds`, and per kind: options per row, the step between option
        values, and how many values there are."""
        return (
            self.kind_bounds,
            np.array([1, 2 * self.placements, len(MODES), self.num_instances]),
            np.array([1, 2, 1, 1]),
            np.array([1, self.placements, len(MODES), self.num_instances]),
        )

    def describe(self, action: int) -> str:
        """A readable name of one action index."""
        if not 0 <= action < self.size:
            raise ValueError(f"action {action} out of range [0, {self.size})")
        kind, row, a, b = (int(x) for x in self.split(np.int64(action)))
        if kind == 0:
            return "wait"
        if kind == 1:
            where = "auto" if a == 0 else f"group@{a - 1}"
            return f"start q{row} {where}" + (" disaggregated" if b else "")
        if kind == 2:
            return f"preempt r{row} {MODE_NAMES[a]}"
        return f"migrate r{row} -> {a}"


def action_masks(sim: ClusterSim, rows: RowView, layout: ActionLayout) -> np.ndarray:
    """``(N, size)`` bool: exactly the actions the env would carry out now."""
    n, inst, q_rows = sim.num_envs, layout.num_instances, layout.queue_rows
    out = np.zeros((n, layout.size), dtype=bool)
    out[:, WAIT] = True
    free = sim.kv_free()
    env_of = np.repeat(np.arange(n), q_rows)

    # START: every queue row x placement x decode
    queue = slice(0, q_rows)
    req = np.maximum(rows.slots[:, queue], 0).ravel()
    listed = rows.present[:, queue].ravel() & ~sim.acted_now(env_of, req)
    need, k, fixed = (part[:, queue].ravel() for part in rows.start_requirements(sim))
    slot = sim.needs_prefill_slot(env_of, req)
    room = room_for(free[env_of], need, k)
    on_slot = sim.read("prefill_req")[env_of]
    busy = on_slot >= 0
    victim_free = ~busy | ~sim.acted_now(env_of[:, None], np.maximum(on_slot, 0))
    explicit = window_all(room & (victim_free | ~slot[:, None]), k)
    idle = window_all(room & (~busy | ~slot[:, None]), k)
    starts = np.arange(inst)[None, :]
    kept = fixed >= 0
    explicit &= ~kept[:, None] | (starts == fixed[:, None])
    idle &= ~kept[:, None] | (starts == fixed[:, None])
    place = np.concatenate((idle.any(axis=1)[:, None], explicit), axis=1) & listed[:, None]
    pool = decode_pool_target(sim, env_of, req) >= 0
    start = np.stack((place, place & (slot & pool)[:, None]), axis=2)
    out[:, 1 : layout.preempt_offset] = start.reshape(n, -1)

    # PREEMPT and MIGRATE: every running row
    run = slice(q_rows, q_rows + layout.running_rows)
    if layout.running_rows:
        env_r = np.repeat(np.arange(n), layout.running_rows)
        req_r = np.maximum(rows.slots[:, run], 0).ravel()
        state = rows.state[:, run].ravel()
        ready = rows.present[:, run].ravel() & ~sim.acted_now(env_r, req_r)
        budget = sim.budget_left(env_r, req_r) >= 1
        running = ready & ((state == PREFILLING) | (state == DECODING))
        preempt = np.stack((running, running & budget, running & budget), axis=1)
        out[:, layout.preempt_offset : layout.migrate_offset] = preempt.reshape(n, -1)
        decoding = ready & (state == DECODING) & budget
        here = (sim.read("group_n")[env_r, req_r] == 1)[:, None] & (
            sim.read("group_lo")[env_r, req_r][:, None] == starts
        )
        fits = free[env_r] >= sim.read("kv_tokens")[env_r, req_r][:, None]
        migrate = decoding[:, None] & fits & ~here
        out[:, layout.migrate_offset :] = migrate.reshape(n, -1)
    return out


def _codec_inputs(sim: ClusterSim) -> tuple:
    """What the compiled codec reads of the simulator, after the layout."""
    from pecgym.envs.actions_kernel import CODEC_ARGS

    fields = (sim.read(name) for name in CODEC_ARGS)
    pool, tokens = sim.config.decode_pool_size, sim.sp_tokens_per_instance()
    return (pool, tokens, sim.kv_free(), *fields)


def decode(sim: ClusterSim, rows: RowView, layout: ActionLayout, actions: np.ndarray) -> Commands:
    """Simulator commands for one action per env (WAIT becomes NOOP). Only meaningful for
    actions the masks allow; others may decode to commands the simulator rejects."""
    n = sim.num_envs
    if sim.runs_compiled():
        from pecgym.envs import actions_kernel as kernel

        commands, auto = Commands.empty(n), np.zeros(n, dtype=bool)
        fields = (commands.op, commands.req, commands.lo, commands.n)
        kernel.decode_actions(
            np.asarray(actions, dtype=np.int64), rows.slots, layout.kernel_layout, MODE_ARRAY,
            OP_OF_KIND, *_codec_inputs(sim), *fields, commands.decode_to, commands.mode, auto,
        )  # fmt: skip
        if auto.any():  # STARTs with auto placement: the group search below
            e = np.flatnonzero(auto)
            commands.lo[e] = best_group(sim, e, commands.req[e])[0]
        return commands
    kind, row, a, b = layout.split(actions)
    envs = np.arange(n)
    column = np.where(kind == 1, row, layout.queue_rows + row)
    column = np.minimum(column, rows.slots.shape[1] - 1)
    req = rows.slots[envs, column]
    commands = Commands.empty(n)
    commands.op[:] = np.where(req < 0, OP_NOOP, OP_OF_KIND[kind])
    commands.req[:] = np.maximum(req, 0)

    start = np.flatnonzero(commands.op == OP_START)
    if start.size:
        e, r = start, commands.req[start]
        k = sim.start_requirements(e, r)[1]
        auto = a[e] == 0
        lo = a[e] - 1
        if auto.any():
            lo[auto] = best_group(sim, e[auto], r[auto])[0]
        commands.lo[e] = lo
        commands.n[e] = k
        commands.mode[e] = np.where(auto, 0, KEEP)
        # disaggregated: the pool's choice; a request with no prefill to run, or no pool
        # instance with room, has no such option (-2: an invalid target)
        target = np.where(sim.needs_prefill_slot(e, r), decode_pool_target(sim, e, r), -1)
        commands.decode_to[e] = np.where(b[e] == 1, np.where(target >= 0, target, -2), -1)
    preempt = np.flatnonzero(commands.op == OP_PREEMPT)
    commands.mode[preempt] = MODE_ARRAY[np.minimum(a[preempt], len(MODES) - 1)]
    migrate = np.flatnonzero(commands.op == OP_MIGRATE)
    commands.lo[migrate] = a[migrate]
    return commands


def encode(
    sim: ClusterSim, rows: RowView, layout: ActionLayout, commands: Commands
) -> tuple[np.ndarray, np.ndarray]:
    """Actions (one per env, WAIT for envs without a command) for simulator commands, and
    per command whether it has an action with the same effect. A command that has none
    (its request is not on view, its group is not the size its KV needs, its decode goes
    elsewhere than the pool's choice, or it asks for a pause the action does not make)
    becomes WAIT."""
    actions = np.zeros(sim.num_envs, dtype=np.int64)
    env = np.asarray(commands.env, dtype=np.int64)
    op, req = np.asarray(commands.op), np.asarray(commands.req)
    ok = op == OP_NOOP
    q_rows = layout.queue_rows
    slots = rows.slots[env]

    start = np.flatnonzero(op == OP_START)
    if start.size and sim.runs_compiled():
        from pecgym.envs import actions_kernel as kernel

        valid = np.empty(start.size, dtype=bool)
        fields = (commands.lo, commands.n, commands.decode_to, commands.mode)
        kernel.encode_starts(
            env[start], req[start], *(f[start] for f in fields), rows.slots, layout.row_rank,
            layout.kernel_layout, *_codec_inputs(sim), actions, valid,
        )  # fmt: skip
        ok[start] = valid
    elif start.size:
        e, r = env[start], req[start]
        hit = slots[start, :q_rows] == r[:, None]
        # a request on several views: its best-ranked row (the first row of the view that
        # puts it first, e.g. SJF's pick is row 0 of "shortest"), so a rule's choice is one
        # stable action, which makes it learnable by imitation
        row = np.where(hit, layout.row_rank, NO_RANK).argmin(axis=1)
        shown = hit.any(axis=1)
        k = sim.start_requirements(e, np.where(shown, r, 0))[1]
        lo, size = commands.lo[start], commands.n[start]
        target = decode_pool_target(sim, e, r)
        to = commands.decode_to[start]
        disaggregate = (to >= 0) & (to == target)
        inst = layout.num_instances
        at = np.minimum(np.maximum(lo, 0), inst - 1)
        members = group_members(at, np.minimum(np.maximum(size, 1), inst), inst)
        on_slot = sim.read("prefill_req")[e] >= 0
        busy = (members & on_slot).any(axis=1) & sim.needs_prefill_slot(e, r)
        mode = commands.mode[start]
        pause_ok = np.where(busy, mode == KEEP, (mode == 0) | (mode == KEEP))
        valid = shown & (size == k) & ((to == -1) | disaggregate) & pause_ok & (lo >= 0)
        placement = at + 1
        actions[e[valid]] = layout.start(row, placement, disaggregate.astype(np.int64))[valid]
        ok[start] = valid
    for code in (OP_PREEMPT, OP_MIGRATE):
        pick = np.flatnonzero(op == code)
        if not pick.size or not layout.running_rows:
            continue
        e, r = env[pick], req[pick]
        hit = slots[pick, q_rows:] == r[:, None]
        row = hit.argmax(axis=1)
        if code == OP_PREEMPT:
            mode = commands.mode[pick]
            valid = hit.any(axis=1) & np.isin(mode, MODES)
            index = layout.preempt(row, np.searchsorted(MODES, np.clip(mode, KEEP, RECOMPUTE)))
        else:
            target = commands.lo[pick]
            valid = hit.any(axis=1) & (target >= 0) & (target < layout.num_instances)
            index = layout.migrate(row, np.clip(target, 0, layout.num_instances - 1))
        actions[e[valid]] = index[valid]
        ok[pick] = valid
    return actions, ok
