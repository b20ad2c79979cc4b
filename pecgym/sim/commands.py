"""Scheduling commands: checking them (with a reason for each rejection) and carrying them out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pecgym.sim.cluster_state import EPS, ROOM_TOLERANCE
from pecgym.sim.groups import (
    group_members,
    nonzero2d,
)
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
    Op,
)
from pecgym.sim.transitions import Transitions

_START, _PREEMPT, _MIGRATE = int(Op.START), int(Op.PREEMPT), int(Op.MIGRATE)


@dataclass
class Commands:
    """One scheduling command per listed env (arrays of one length; envs distinct).

    ``op`` is an :class:`Op`. START uses ``req, lo, n, decode_to, mode`` (``decode_to`` -1 keeps
    the decode on the prefill instances, otherwise the instance its KV moves to; ``mode`` is
    how running prefills on the targets are preempted, NONE to require free instances).
    PREEMPT uses ``req, mode``. MIGRATE uses ``req, lo`` (the new instance).
    """

    env: np.ndarray
    op: np.ndarray
    req: np.ndarray
    lo: np.ndarray
    n: np.ndarray
    decode_to: np.ndarray
    mode: np.ndarray

    def select(self, rows: np.ndarray) -> Commands:
        """The commands at ``rows`` (for :meth:`empty` commands, rows are env indices)."""
        return Commands(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))

    @classmethod
    def empty(cls, size: int) -> Commands:
        """``size`` NOOP commands for envs 0..size-1."""
        return cls.noop(np.arange(size))

    @classmethod
    def noop(cls, envs: np.ndarray) -> Commands:
        """A NOOP command for each of ``envs``."""
        size = len(envs)
        zeros = np.zeros(size, dtype=np.int64)
        return cls(
            env=np.asarray(envs, dtype=np.int64),
            op=zeros.copy(),
            req=zeros.copy(),
            lo=zeros.copy(),
            n=np.ones(size, dtype=np.int64),
            decode_to=np.full(size, -1, dtype=np.int64),
            mode=zeros.copy(),
        )


class CommandRunner(Transitions):
    """Checks and applies :class:`Commands`."""

    def apply(self, commands: Commands) -> np.ndarray:
        """Apply one command per listed env; returns a :class:`Reject` code per command.

        Invalid commands change nothing and say why. An env stays at its decision point
        while it has queued requests, so a policy may issue several commands before a NOOP;
        each request takes at most one command per instant (a START's paused prefills
        count as commanded), so the commands at one instant are at most the live requests.
        """
        env = np.asarray(commands.env, dtype=np.int64)
        if env.size and np.bincount(env).max() > 1:
            raise ValueError("Commands must name each env at most once per call")
        reason, launch, pauses, moves = self._check(commands)
        self._queued_memo = None  # the commands change request states
        now = self.clock
        if pauses[0].size:
            p_env, p_req, p_mode = pauses
            self.acted_at[p_env, p_req] = now[p_env]
            self.moves_used[p_env, p_req] += p_mode != KEEP
            self._preempt(p_env, p_req, p_mode, count=True)
        if launch[0].size:
            self.acted_at[launch[0], launch[1]] = now[launch[0]]
            self._launch(*launch)
        m_env, m_req, m_to = moves
        if m_env.size:
            self.acted_at[m_env, m_req] = now[m_env]
            self.moves_used[m_env, m_req] += 1
            self._move_decodes(m_env, m_req, m_to)
        win = self.window()
        self.at_decision[env] &= self.queued(win)[env].any(axis=1)
        return reason

    def check(self, commands: Commands) -> np.ndarray:
        """The :class:`Reject` code :meth:`apply` would return for each command, changing
        nothing. Unlike :meth:`apply`, an env may be listed several times (each command is
        checked against the current state alone), e.g. to test every candidate at once."""
        return self._check(commands)[0]

    def _check(self, commands: Commands):
        """Reasons per command, and what the valid ones do: the launches, the pauses
        ``(env, req, mode)`` and the decode moves ``(env, req, target)``."""
        env = np.asarray(commands.env, dtype=np.int64)
        if env.size and (env.min() < 0 or env.max() >= self.num_envs):
            raise IndexError(f"command env index out of range [0, {self.num_envs})")
        op = np.asarray(commands.op, dtype=np.int64)
        fields = (commands.req, commands.lo, commands.n, commands.decode_to, commands.mode)
        req, lo, n, decode_to, mode = (np.asarray(f, dtype=np.int64) for f in fields)
        none = np.zeros(0, dtype=np.int64)
        if (op == _START).all():  # the common step: STARTs alone
            reason, launch, victims = self._check_start(env, req, lo, n, decode_to, mode)
            return reason, launch, victims, (none, none, none)
        reason = np.full(env.size, R_OK, dtype=np.int64)
        reason[(op < 0) | (op > _MIGRATE)] = R_BAD_MODE
        start, preempt, migrate = (
            np.flatnonzero((op == code) & (reason == R_OK)) for code in (_START, _PREEMPT, _MIGRATE)
        )
        pauses = [(none, none, none)]
        launch = (none,) * 8
        if start.size:
            reason[start], launch, victims = self._check_start(
                env[start], req[start], lo[start], n[start], decode_to[start], mode[start]
            )
            pauses.append(victims)
        if preempt.size:
            reason[preempt], go = self._check_preempt(env[preempt], req[preempt], mode[preempt])
            pauses.append((env[preempt][go], req[preempt][go], mode[preempt][go]))
        moves = (none, none, none)
        if migrate.size:
            reason[migrate], go = self._check_migrate(env[migrate], req[migrate], lo[migrate])
            chosen = migrate[go]
            moves = (env[chosen], req[chosen], lo[chosen])
        paused = tuple(np.concatenate(f) for f in zip(*pauses, strict=True))
        return reason, launch, paused, moves

    def _valid_request(self, env, req) -> tuple[np.ndarray, np.ndarray]:
        ok = (req >= 0) & (req < self.num_requests[env])
        safe = np.where(ok, req, 0)
        return ok & self.exists[env, safe], safe

    def acted_now(self, env, req) -> np.ndarray:
        """Whether each request already had a command at its env's current instant."""
        return self.acted_at[env, req] >= self.clock[env]

    def needs_prefill_slot(self, env, req) -> np.ndarray:
        """Whether starting each queued request runs a prefill: a paused decode that kept or
        swapped its KV resumes decoding at once, without a prefill slot."""
        resume_decode = (self.state[env, req] == PREEMPTED) & self.resume_decode[env, req]
        return ~(resume_decode & (self.preempt_mode[env, req] != RECOMPUTE))

    def budget_left(self, env, req) -> np.ndarray:
        """Costly moves (swap, recompute, migrate) each request may still make."""
        budget = self.config.move_budget
        if budget is None:
            return np.full(np.shape(req), np.iinfo(np.int64).max)
        return budget - self.moves_used[env, req]

    def _check_start(self, env, req, lo, n, decode_to, mode):
        """Reasons for START commands, the launches to make, and the prefills they preempt
        (``(env, req, mode)``)."""
        if self.runs_compiled():
            kernel, state = self._start_kernel()
            budget = self.config.move_budget
            reason, launch, victims = kernel.check_start(
                env, req, lo, n, decode_to, mode, self.sp_tokens_per_instance(), self.num_instances,
                self.kv_capacity, -1 if budget is None else budget, *state[: kernel.CHECK_ARGS],
            )  # fmt: skip
            return reason, launch, self._unique_victims(*victims.T)
        reason = np.full(env.size, R_OK, dtype=np.int64)
        ok, req = self._valid_request(env, req)
        state = self.state[env, req]
        queued = self._is_queued(env, req)
        reason[~(ok & queued)] = R_BAD_REQUEST
        swap_pending = (state == PREEMPTED) & (self.preempt_mode[env, req] == SWAP) & ~queued
        reason[ok & swap_pending] = R_NOT_READY
        reason[(reason == R_OK) & self.acted_now(env, req)] = R_ACTED
        num = self.num_instances
        bad_group = (lo < 0) | (n < 1) | (lo + n > num) | (decode_to < -1) | (decode_to >= num)
        need, own_n, fixed = self.start_requirements(env, req)
        elsewhere = (fixed >= 0) & ((lo != fixed) | (n != own_n))
        reason[(reason == R_OK) & (bad_group | elsewhere)] = R_BAD_INSTANCES
        reason[(reason == R_OK) & ((mode < 0) | (mode > RECOMPUTE))] = R_BAD_MODE
        lo, n = np.minimum(np.maximum(lo, 0), num - 1), np.minimum(np.maximum(n, 1), num)
        lo = np.minimum(lo, num - n)
        needs_slot = self.needs_prefill_slot(env, req)
        members = group_members(lo, n, num)
        on_slot = self.prefill_req[env]
        occupied = members & (on_slot >= 0) & needs_slot[:, None]
        busy = occupied.any(axis=1)
        reason[(reason == R_OK) & busy & (mode == NO_PREEMPT)] = R_BUSY
        if busy.any():
            # the prefills a START pauses are commanded too: once per instant, and a costly
            # pause spends their budget
            victim = np.maximum(on_slot, 0)
            acted = occupied & self.acted_now(env[:, None], victim)
            reason[(reason == R_OK) & acted.any(axis=1)] = R_ACTED
            costly = (mode != KEEP)[:, None] & occupied
            if costly.any():
                broke = costly & (self.budget_left(env[:, None], victim) < 1)
                reason[(reason == R_OK) & broke.any(axis=1)] = R_NO_BUDGET
        free = self.kv_free()[env]
        short_of = (members & (free < (need / n)[:, None] - ROOM_TOLERANCE)).any(axis=1)
        reason[(reason == R_OK) & short_of] = R_NO_MEMORY
        go = reason == R_OK
        launch = (
            env[go],
            req[go],
            lo[go],
            n[go],
            decode_to[go],
            needs_slot[go],
            need[go],
            busy[go],
        )
        # the prefills running on the targets are preempted first
        row, inst = nonzero2d(occupied & go[:, None])
        return reason, launch, self._unique_victims(env[row], on_slot[row, inst], mode[row])

    def _unique_victims(self, v_env, v_req, v_mode):
        """The prefills STARTs pause, each once (an SP prefill covers several targets)."""
        if v_env.size > 1:
            _, first = np.unique(v_env * self.num_requests_max + v_req, return_index=True)
            v_env, v_req, v_mode = v_env[first], v_req[first], v_mode[first]
        return v_env, v_req, v_mode

    def _start_kernel(self):
        """The compiled START module and the state arrays it works on
        (:data:`~pecgym.sim.kernel_start.START_ARGS`), gathered once per allocation."""
        if self._start_cache is None:
            from pecgym.sim import kernel_start

            state = tuple(getattr(self, name) for name in kernel_start.START_ARGS)
            self._start_cache = (kernel_start, state)
        return self._start_cache

    def start_requirements(self, env, req) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What a START of each queued request needs: KV tokens it places on GPUs, group
        size, and the group start it must use (-1: any).

        A request paused with its KV kept resumes on its own group and places nothing; the
        others place :meth:`kv_to_load` over the SP degree their KV needs
        (:meth:`sp_degree_for`). The one place this is derived: the simulator's checks,
        the placement helpers, the env's rows and masks read it.
        """
        if self.runs_compiled() and np.ndim(env) == 1 and np.shape(env) == np.shape(req):
            return self._start_kernel()[0].start_requirements(
                np.asarray(env, dtype=np.int64), np.asarray(req, dtype=np.int64),
                self.sp_tokens_per_instance(), self.num_instances, self.state, self.preempt_mode,
                self.resume_decode, self.kv_host, self.prefill_len, self.group_lo, self.group_n,
            )  # fmt: skip
        kept = (self.state[env, req] == PREEMPTED) & (self.preempt_mode[env, req] == KEEP)
        need = np.where(kept, 0.0, self.kv_to_load(env, req))
        k = np.where(kept, self.group_n[env, req], self.sp_degree_for(self.prefill_len[env, req]))
        fixed = np.where(kept, self.group_lo[env, req], -1)
        return need, k, fixed

    def kv_to_load(self, env, req) -> np.ndarray:
        """KV tokens a start must place on GPUs (prompt reserve, or the swapped copy)."""
        swapped = (self.state[env, req] == PREEMPTED) & (self.preempt_mode[env, req] == SWAP)
        return np.where(
            swapped & self.resume_decode[env, req],
            self.kv_host[env, req],
            self.prefill_len[env, req].astype(np.float64),
        )

    def admission_time(self, env, lo, n) -> np.ndarray:
        """When work started now on each group ``[lo, lo + n)`` of env ``env`` can run: the
        end of the iteration running on its members (iterations run back to back from the
        member's ``busy_since``), or now on idle instances. Engines admit new requests at
        iteration boundaries."""
        now = self.clock[env]
        since, length = self.busy_since[env], self.iteration_time[env]
        running = group_members(lo, n, self.num_instances) & (length > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            laps = np.ceil((now[:, None] - since) / length - EPS)
            boundary = np.where(running, since + np.maximum(laps, 0.0) * length, -np.inf)
        return np.maximum(boundary.max(axis=1), now)

    def _launch(self, env, req, lo, n, decode_to, needs_slot, need, parks) -> None:
        """Start checked requests; ``need`` is the KV each places (:meth:`kv_to_load`),
        ``parks`` whether it displaces a running prefill."""
        if self.runs_compiled():
            kernel, state = self._start_kernel()
            if kernel.launch(env, req, lo, n, decode_to, needs_slot, need, parks, *state):
                self._kv_views = None
                return
        now = self.clock[env]
        mode = self.preempt_mode[env, req]
        was_swapped = mode == SWAP
        swap_in = np.zeros(env.size)
        if was_swapped.any():
            swap_in[was_swapped] = self.cost.swap_time(self.kv_host[env, req][was_swapped])
        ready = np.where(was_swapped, np.maximum(now, self.swap_ready[env, req]), now) + swap_in
        # a kept request paused during its KV transfer or swap-in still waits for it to end
        ready = np.where(mode == KEEP, np.maximum(ready, self.ready_at[env, req]), ready)
        # new work joins a running batch at the end of its iteration. Two kinds start at once:
        # a request paused with its KV kept resumes where it stopped (it never left the
        # engine), and one that displaces a running prefill takes its place as the engine
        # parks that prefill at a layer boundary (QLLM)
        at_once = (mode == KEEP) | parks
        admitted = np.where(at_once, now, self.admission_time(env, lo, n))
        ready = np.maximum(ready, admitted)
        moved = (self.group_lo[env, req] != lo) | (self.group_n[env, req] != n)
        fresh = (mode != KEEP) & needs_slot
        self.t_start[env, req] = np.where(
            np.isnan(self.t_start[env, req]), admitted, self.t_start[env, req]
        )
        # a kept request's KV stays where it is (it resumes on its own group); every other
        # queued request holds none on GPUs and now reserves what it needs
        load = mode != KEEP
        self.kv_tokens[env, req] = np.where(load, need, self.kv_tokens[env, req])
        self.kv_host[env, req] = 0.0
        self.group_lo[env, req] = lo
        self.group_n[env, req] = n
        self.ready_at[env, req] = ready
        self.last_start[env, req] = now
        self.preempt_mode[env, req] = NO_PREEMPT
        self._kv_shift(env[load], req[load], need[load], 1.0)
        # prefill (new, recomputed or resumed) or a decode resuming in place
        pre = np.flatnonzero(needs_slot)
        self.decode_to[env[pre], req[pre]] = decode_to[pre]
        work = self.prompt_prefill_work[env[pre], req[pre], n[pre] - 1]
        prefill_len = self.prefill_len[env[pre], req[pre]]
        special = prefill_len != self.input_tokens[env[pre], req[pre]]
        if special.any():  # a recompute prefills the prompt and the tokens generated so far
            work[special] = self.solo_prefill_time(
                prefill_len[special].astype(np.float64), n[pre][special]
            )
        redo_work = fresh[pre] | moved[pre]
        self.prefill_work[env[pre], req[pre]] = np.where(
            redo_work, work, self.prefill_work[env[pre], req[pre]]
        )
        self.state[env[pre], req[pre]] = PREFILLING
        self.resume_decode[env[pre], req[pre]] = False
        slots = group_members(lo[pre], n[pre], self.num_instances)
        rows, inst = nonzero2d(slots)
        self.prefill_req[env[pre][rows], inst] = req[pre][rows]
        dec = np.flatnonzero(~needs_slot)
        self.state[env[dec], req[dec]] = DECODING
        self.resume_decode[env[dec], req[dec]] = False

    def _check_preempt(self, env, req, mode) -> tuple[np.ndarray, np.ndarray]:
        """Reasons for PREEMPT commands, and which may go ahead."""
        reason = np.full(env.size, R_OK, dtype=np.int64)
        ok, req = self._valid_request(env, req)
        state = self.state[env, req]
        running = (state == PREFILLING) | (state == DECODING)
        reason[~(ok & running)] = R_BAD_REQUEST
        reason[(reason == R_OK) & self.acted_now(env, req)] = R_ACTED
        bad_mode = (mode < KEEP) | (mode > RECOMPUTE)
        reason[(reason == R_OK) & bad_mode] = R_BAD_MODE
        broke = (mode != KEEP) & (self.budget_left(env, req) < 1)
        reason[(reason == R_OK) & broke] = R_NO_BUDGET
        return reason, reason == R_OK

    def _check_migrate(self, env, req, lo) -> tuple[np.ndarray, np.ndarray]:
        """Reasons for MIGRATE commands, and which may go ahead (if the KV fits)."""
        reason = np.full(env.size, R_OK, dtype=np.int64)
        ok, req = self._valid_request(env, req)
        reason[~(ok & (self.state[env, req] == DECODING))] = R_BAD_REQUEST
        reason[(reason == R_OK) & self.acted_now(env, req)] = R_ACTED
        same = (self.group_n[env, req] == 1) & (self.group_lo[env, req] == lo)
        bad = (lo < 0) | (lo >= self.num_instances) | same
        reason[(reason == R_OK) & bad] = R_BAD_INSTANCES
        reason[(reason == R_OK) & (self.budget_left(env, req) < 1)] = R_NO_BUDGET
        target = np.clip(lo, 0, self.num_instances - 1)
        room = self.kv_free()[env, target] >= self.kv_tokens[env, req]
        reason[(reason == R_OK) & ~room] = R_NO_MEMORY
        return reason, reason == R_OK
