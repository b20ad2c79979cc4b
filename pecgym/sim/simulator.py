"""The batched cluster simulator: E independent clusters in one set of NumPy arrays.

Every array has a leading env axis: per request ``(E, R)``, per instance ``(E, I)``, per env
``(E,)``. Each env keeps its own clock and jumps to its own next event; between events every
rate is constant (a fluid model of continuous batching), so event times are exact. See
``docs/design.md`` for the model and the reasoning behind it.

Per instance and iteration: one prefill chunk (at most one prefill job per instance) plus the
whole decode batch. A prefill running alone goes at full speed; beside a decode batch it gets
the chunk's share of each mixed iteration, and the decode batch pays the chunk's time too.
A request on several instances (sequence parallelism) moves at the pace of its slowest member.
KV memory is reserved for the whole prompt at start and grows with every decoded token; when
an instance runs out, the engine evicts its most recently started decode (recompute), as
vLLM does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pecgym.sim.config import ClusterConfig, ConfigError
from pecgym.sim.fields import FIELDS
from pecgym.sim.groups import (
    GroupIndex,
    group_cells,
    group_max,
    group_members,
    group_min,
    group_sum,
    nonzero2d,
)
from pecgym.sim.state import (
    DECODING,
    DONE,
    KEEP,
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
    WAITING,
    Op,
    ReqState,
)
from pecgym.traces.workload import Workload

NO_PREEMPT = 0
_START, _PREEMPT, _MIGRATE = int(Op.START), int(Op.PREEMPT), int(Op.MIGRATE)

_EPS = 1e-9
ROOM_TOLERANCE = _EPS
"""KV tokens a request's share may exceed an instance's free room by (float rounding)."""
_MAX_EVENTS_WITHOUT_PROGRESS = 10_000


class SimulationError(RuntimeError):
    """The simulator reached a state it cannot leave (a bug, reported with context)."""


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
        zeros = np.zeros(size, dtype=np.int64)
        return cls(
            env=np.arange(size),
            op=zeros.copy(),
            req=zeros.copy(),
            lo=zeros.copy(),
            n=np.ones(size, dtype=np.int64),
            decode_to=np.full(size, -1, dtype=np.int64),
            mode=zeros.copy(),
        )


class ClusterSim:
    """E independent clusters of ``config.num_instances`` instances, each with a workload."""

    def __init__(self, config: ClusterConfig, workloads: Sequence[Workload]) -> None:
        if not workloads:
            raise ConfigError("ClusterSim needs at least one workload (one per env)")
        self.config = config
        self.cost = config.cost_model
        self.num_envs = len(workloads)
        self.num_instances = config.num_instances
        self.kv_capacity = float(config.kv_capacity)
        self._solo_chunk_time = float(self.cost.iteration_time(config.chunk_tokens, 0, 0))
        self._allocate(max(len(w) for w in workloads))
        for env, workload in enumerate(workloads):
            self.load(env, workload)

    # ----------------------------------------------------------------- state and loading
    def _allocate(self, num_requests: int) -> None:
        """Every state array of :data:`~pecgym.sim.fields.FIELDS`, at its fill value."""
        self._allocate_fields(FIELDS, num_requests)
        self._kv_views: tuple[np.ndarray, np.ndarray] | None = None  # (used, free), read-only
        self._queued_memo: tuple[tuple, np.ndarray] | None = None  # (window, queued mask)
        self.timeline: list | None = None  # (t0, t1, prefill request, decode batch) per segment
        self.timeline_env = 0

    def _allocate_fields(self, fields, num_requests: int) -> None:
        self.num_requests_max = r = max(num_requests, 1)
        for field in fields:
            setattr(self, field.name, field.allocate(self.num_envs, r, self.num_instances))

    def _grow(self, num_requests: int) -> None:
        """Room for ``num_requests`` requests per env, keeping every env's state."""
        grown = [field for field in FIELDS if field.per_request]
        old = {field.name: getattr(self, field.name) for field in grown}
        self._allocate_fields(grown, num_requests)
        for name, values in old.items():
            getattr(self, name)[:, : values.shape[1]] = values

    def load(self, env: int, workload: Workload) -> None:
        """Reset env ``env`` to time 0 with a new workload (other envs are untouched)."""
        if not 0 <= env < self.num_envs:
            raise IndexError(f"env {env} out of range [0, {self.num_envs})")
        self._check_servable(workload)
        n = len(workload)
        if n > self.num_requests_max:
            self._grow(n)
        for field in FIELDS:  # every array of this env back to its fill value
            getattr(self, field.name)[env] = field.fill
        self.arrival[env, :n] = workload.arrival
        self.input_tokens[env, :n] = workload.input_tokens
        self.output_tokens[env, :n] = workload.output_tokens
        self.is_long[env, :n] = workload.input_tokens > self.config.short_threshold
        if workload.latency_sensitive is not None:
            self.latency_sensitive[env, :n] = workload.latency_sensitive
        self.exists[env, :n] = True
        self.prefill_len[env, :n] = workload.input_tokens
        self.prompt_prefill_work[env, :n] = self.cost.prefill_time(
            workload.input_tokens[:, None],
            0,
            np.arange(1, self.num_instances + 1)[None, :],
            sp_method=self.config.sp_method,
        )
        self.jct_alone[env, :n] = self._jct_alone(workload)
        if self.timeline is not None and env == self.timeline_env:
            self.timeline.clear()
        self.horizon_at[env] = self._horizon(workload)
        self.num_requests[env] = n
        self.finished[env] = n == 0
        self._kv_views = None
        self._queued_memo = None

    def _jct_alone(self, workload: Workload) -> np.ndarray:
        """Per request, its JCT alone on an idle cluster: the prefill on the group its KV
        needs, then one decode iteration per later token at the mean context (the decode
        step is affine in the context, so this is the exact sum)."""
        inputs, outputs = workload.input_tokens, workload.output_tokens
        k = self.sp_degree_for(inputs)
        prefill = self.cost.prefill_time(inputs, 0, k, sp_method=self.config.sp_method)
        context = (inputs + (outputs + 1) / 2.0) / k
        ones = np.ones(len(workload), dtype=np.int64)
        step = self.cost.step_time(np.zeros_like(ones), ones, context)
        return np.maximum(prefill + np.maximum(outputs - 1, 0) * step, _EPS)

    def _horizon(self, workload: Workload) -> float:
        """Where the episode of ``workload`` is truncated (``inf``: nowhere)."""
        config = self.config
        horizon = math.inf if config.horizon is None else config.horizon
        if config.drain_time is not None and len(workload):
            horizon = min(horizon, float(workload.arrival.max()) + config.drain_time)
        return horizon

    def _check_servable(self, workload: Workload) -> None:
        total = workload.input_tokens + workload.output_tokens
        cluster_kv = self.kv_capacity * self.num_instances
        too_big = np.flatnonzero(total > cluster_kv)
        if too_big.size:
            first = int(too_big[0])
            raise ConfigError(
                f"workload {workload.name!r}: {too_big.size} request(s) need more KV cache than "
                f"the whole cluster holds ({int(cluster_kv)} tokens on {self.num_instances} "
                f"instances); request {first} needs {int(total[first])} tokens"
            )

    # ------------------------------------------------------------------- views of state
    def window(self) -> slice:
        """Request indices that may be live in some env (arrived and not all done)."""
        return slice(int(self.first_live.min()), int(self.next_arrival.max()))

    def queued(self, win: slice | None = None) -> np.ndarray:
        """Mask of requests a policy may start: waiting, or preempted and ready.

        Shape ``(E, R)``, or ``(E, len(win))`` for a window of request indices. Read-only,
        and shared until the state next changes.
        """
        win = slice(None) if win is None else win
        key = (win.start, win.stop)
        if self._queued_memo is not None and self._queued_memo[0] == key:
            return self._queued_memo[1]
        state = self.state[:, win]
        queued = state == WAITING
        preempted = state == PREEMPTED
        if preempted.any():
            ready_swap = (self.preempt_mode[:, win] != SWAP) | (
                self.swap_ready[:, win] <= self.clock[:, None]
            )
            queued |= preempted & ready_swap
        queued.flags.writeable = False
        self._queued_memo = (key, queued)
        return queued

    def _is_queued(self, env: np.ndarray, req: np.ndarray) -> np.ndarray:
        state = self.state[env, req]
        ready_swap = (self.preempt_mode[env, req] != SWAP) | (
            self.swap_ready[env, req] <= self.clock[env]
        )
        return (state == WAITING) | ((state == PREEMPTED) & ready_swap)

    def _kv_shift(self, env, req, tokens, sign: float) -> None:
        """Add (``sign`` +1) or remove (-1) requests' KV on their groups.

        Usage is a running sum, never recomputed: each env's row starts at exactly 0 on
        ``load`` and sees the same updates in the same order whether it runs alone or in a
        batch, so batched and single runs stay bit-for-bit equal.
        """
        held = tokens > 0
        if not held.all():
            if not held.any():
                return
            env, req, tokens = env[held], req[held], tokens[held]
        n = self.group_n[env, req]
        self._add_kv(env, self.group_lo[env, req], n, sign * tokens / n)

    def _add_kv(self, env, lo, n, per_instance) -> None:
        """Add ``per_instance`` KV tokens to every instance of each group, in item order."""
        item, cells = group_cells(env, lo, n, self.num_instances)
        if item is not None:
            per_instance = per_instance[item]
        np.add.at(self._kv_used.reshape(-1), cells, per_instance)
        self._kv_views = None

    def kv_used(self) -> np.ndarray:
        """``(E, I)`` KV tokens held on each instance (rounding residue below 1e-6 is 0).

        Read-only, and shared until the next change of KV usage.
        """
        return self._kv_usage()[0]

    def _kv_usage(self) -> tuple[np.ndarray, np.ndarray]:
        if self._kv_views is None:
            used = np.where(self._kv_used > 1e-6, self._kv_used, 0.0)
            free = np.maximum(self.kv_capacity - used, 0.0)
            used.flags.writeable = False
            free.flags.writeable = False
            self._kv_views = (used, free)
        return self._kv_views

    def kv_used_exact(self) -> np.ndarray:
        """``(E, I)`` KV usage summed afresh from the requests (for checks; slower)."""
        win = self.window()
        env, rel = nonzero2d(self.kv_tokens[:, win] > 0)
        req = rel + win.start
        lo, n = self.group_lo[env, req], self.group_n[env, req]
        used = group_sum(
            env, lo, n, self.kv_tokens[env, req] / n, self.num_envs, self.num_instances
        )
        return np.maximum(used, 0.0)

    def kv_free(self) -> np.ndarray:
        """``(E, I)`` KV tokens still free on each instance (read-only, like :meth:`kv_used`)."""
        return self._kv_usage()[1]

    def prefill_free(self) -> np.ndarray:
        """``(E, I)`` mask of instances with no prefill running."""
        return self.prefill_req < 0

    def instance_load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(E, I)`` per instance: decode batch size, KV context of the decode batch, and KV
        held by requests paused in place (preempted with KEEP)."""
        win = self.window()
        state = self.state[:, win]
        decoding = state == DECODING
        paused = (state == PREEMPTED) & (self.preempt_mode[:, win] == KEEP)
        env, rel = nonzero2d(decoding | paused)
        req = rel + win.start
        n = self.group_n[env, req]
        index = GroupIndex(env, self.group_lo[env, req], n, self.num_envs, self.num_instances)
        is_decode = decoding[env, rel]
        kv = self.kv_tokens[env, req] / n
        batch, context, held = index.sums(
            is_decode.astype(np.float64), np.where(is_decode, kv, 0.0), np.where(is_decode, 0.0, kv)
        )
        return np.rint(batch), np.maximum(context, 0.0), np.maximum(held, 0.0)

    def sp_degree_for(self, tokens: np.ndarray) -> np.ndarray:
        """Instances a prefill of ``tokens`` needs for its KV (PecSched: one per 64K tokens)."""
        per_instance = min(self.config.sp_tokens_per_instance, self.kv_capacity)
        need = np.ceil(np.asarray(tokens) / per_instance).astype(np.int64)
        return np.clip(need, 1, self.num_instances)

    # ---------------------------------------------------------------------- the clock
    def advance(self, envs: np.ndarray | None = None) -> None:
        """Run the given envs (bool mask or indices; default all) to their next decision.

        A decision point is an event (in decision-interval mode: a tick) after which the env
        has a request to schedule; an env also stops when it finishes.
        """
        active = np.zeros(self.num_envs, dtype=bool)
        active[slice(None) if envs is None else envs] = True
        active &= ~self.finished
        self.at_decision[active] = False
        stuck = 0
        while active.any():
            before = self.clock.copy()
            self._next_event(active)
            active &= ~(self.at_decision | self.finished)
            stuck = stuck + 1 if np.array_equal(before, self.clock) else 0
            if stuck > _MAX_EVENTS_WITHOUT_PROGRESS:
                raise SimulationError(
                    f"no simulated time passed in {stuck} events (envs "
                    f"{np.flatnonzero(active)[:8].tolist()} at t={self.clock[active][:8]})"
                )

    def _next_event(self, active: np.ndarray) -> None:
        """Move every active env to its own next event and process what happens there."""
        num_envs, num_instances = self.num_envs, self.num_instances
        now = self.clock
        win = self.window()
        state = self.state[:, win]
        ready = self.ready_at[:, win] <= now[:, None]
        d_env, d_rel = nonzero2d((state == DECODING) & ready)
        p_env, p_rel = nonzero2d((state == PREFILLING) & ready)
        d_req, p_req = d_rel + win.start, p_rel + win.start
        d_lo, d_n = self.group_lo[d_env, d_req], self.group_n[d_env, d_req]
        p_lo, p_n = self.group_lo[p_env, p_req], self.group_n[p_env, p_req]

        # per-instance load and iteration times (all envs at once)
        decodes = GroupIndex(d_env, d_lo, d_n, num_envs, num_instances)
        batch, context = decodes.sums(1.0, self.kv_tokens[d_env, d_req] / d_n)
        batch, context = np.rint(batch), np.maximum(context, 0.0)
        on_slot = self.prefill_req
        rows = np.arange(num_envs)[:, None]
        prefilling = (on_slot >= 0) & (self.ready_at[rows, np.maximum(on_slot, 0)] <= now[:, None])
        batch_size = batch.astype(np.int64)
        chunk = np.where(prefilling & (batch_size > 0), self.config.chunk_tokens, 0)
        iteration = self.cost.step_time(chunk, batch_size, context)
        prefill_share = np.where(
            batch > 0, self._solo_chunk_time / np.maximum(iteration, _EPS), 1.0
        )

        # per-request rates: a group moves at the pace of its slowest instance
        d_step = group_max(iteration, d_env, d_lo, d_n)
        p_rate = group_min(prefill_share, p_env, p_lo, p_n) / self.prefill_work[p_env, p_req]

        # the next event of each env
        arrival_at = self._next_arrival_time()
        t_next = arrival_at.copy()
        p_done_at = now[p_env] + (1.0 - self.prefill_done[p_env, p_req]) / p_rate
        np.minimum.at(t_next, p_env, p_done_at)
        d_left = self.output_tokens[d_env, d_req] - self.generated[d_env, d_req]
        d_done_at = now[d_env] + d_left * d_step
        np.minimum.at(t_next, d_env, d_done_at)
        if not ready.all() or self._any_swapping(win):
            self._min_blocked_until(t_next, win, ready)
        full_at = self._memory_full_at(win, decodes, d_env, d_req, d_step)
        t_next = np.minimum(t_next, full_at)
        if self.config.decision_interval is not None:
            tick = self.config.decision_interval
            t_next = np.minimum(t_next, (np.floor(now / tick + _EPS) + 1.0) * tick)
        queued = self.queued(win)
        gap = self.config.max_decision_gap
        if gap is not None:
            t_next = np.where(queued.any(axis=1), np.minimum(t_next, now + gap), t_next)
        t_next = np.minimum(t_next, self.horizon_at)
        t_next = np.where(active, np.maximum(t_next, now), now)

        # envs with nothing left to happen are stalled: end their episode
        stalled = active & ~np.isfinite(t_next)
        if stalled.any():
            self.stalled |= stalled
            self.truncated |= stalled  # it ends with requests unfinished
            self.finished |= stalled
            active = active & ~stalled
            t_next = np.where(stalled, now, t_next)

        # advance every rate for dt
        dt = t_next - now
        tokens = dt[d_env] / d_step
        self.generated[d_env, d_req] += tokens
        self.kv_tokens[d_env, d_req] += tokens
        self.prefill_done[p_env, p_req] += p_rate * dt[p_env]
        busy = prefilling | (batch > 0)
        self.busy_time += np.where(busy, dt[:, None], 0.0)
        self.idle_time += np.where(busy, 0.0, dt[:, None])
        long_queued = (queued & self.is_long[:, win]).sum(axis=1)
        self.wait_area[:, 0] += (queued.sum(axis=1) - long_queued) * dt
        self.wait_area[:, 1] += long_queued * dt
        if self.timeline is not None and dt[self.timeline_env] > 0:
            row = self.timeline_env
            self.timeline.append(
                (now[row], t_next[row], np.where(prefilling[row], on_slot[row], -1), batch[row])
            )
        self.clock = t_next.copy()
        self._queued_memo = None  # time moved: swaps may have finished; events follow
        if d_env.size:
            self._kv_used += decodes.sum(tokens / d_n)
            self._kv_views = None
        self.num_events += active

        # what happens at t_next, in order: completions, memory, arrivals
        tol = _EPS * np.maximum(1.0, t_next)
        limit = t_next + tol
        self._finish_prefills(p_env, p_req, (p_done_at <= limit[p_env]) & active[p_env])
        self._complete_where(d_env, d_req, (d_done_at <= limit[d_env]) & active[d_env])
        full = active & (full_at <= limit)
        if full.any():
            self._evict_on_full(full)
        if (active & (arrival_at <= limit)).any():
            self._arrive(active)
        self._mark_decisions(active, t_next, tol)

    def _any_swapping(self, win: slice) -> bool:
        return bool((self.swap_ready[:, win] > self.clock.min()).any())

    def _memory_full_at(self, win, decodes: GroupIndex, d_env, d_req, d_step) -> np.ndarray:
        """Per env, when some instance's KV cache fills up at the current decode rates."""
        if not d_env.size:
            return np.full(self.num_envs, np.inf)
        # cheap bound first: an env whose whole KV, grown by every decode to its end, fits
        # on one instance cannot fill any instance
        left = np.bincount(
            d_env,
            self.output_tokens[d_env, d_req] - self.generated[d_env, d_req],
            minlength=self.num_envs,
        )
        worst = self.kv_tokens[:, win].sum(axis=1) + left
        if (worst < self.kv_capacity * (1 - 1e-9)).all():
            return np.full(self.num_envs, np.inf)
        used = self.kv_used()
        growth = decodes.sum(1.0 / (decodes.n * d_step))
        with np.errstate(divide="ignore", invalid="ignore"):
            at = np.where(
                growth > _EPS, self.clock[:, None] + (self.kv_capacity - used) / growth, np.inf
            )
        return at.min(axis=1)

    def _next_arrival_time(self) -> np.ndarray:
        index = np.minimum(self.next_arrival, self.num_requests_max - 1)
        times = self.arrival[np.arange(self.num_envs), index]
        return np.where(self.next_arrival < self.num_requests, times, np.inf)

    def _min_blocked_until(self, t_next: np.ndarray, win: slice, ready: np.ndarray) -> None:
        state = self.state[:, win]
        running = (state == PREFILLING) | (state == DECODING)
        env, rel = nonzero2d(running & ~ready)
        np.minimum.at(t_next, env, self.ready_at[env, rel + win.start])
        swapping = (
            (state == PREEMPTED)
            & (self.preempt_mode[:, win] == SWAP)
            & (self.swap_ready[:, win] > self.clock[:, None])
        )
        env, rel = nonzero2d(swapping)
        np.minimum.at(t_next, env, self.swap_ready[env, rel + win.start])

    def _finish_prefills(self, env, req, done) -> None:
        if not done.any():
            return
        env, req = env[done], req[done]
        now = self.clock[env]
        lo, n = self.group_lo[env, req], self.group_n[env, req]
        self._release_prefill_slots(env, lo, n)
        self.prefill_done[env, req] = 1.0
        first = np.isnan(self.t_first_token[env, req])
        self.t_first_token[env, req] = np.where(first, now, self.t_first_token[env, req])
        # a prefill yields the next token: the first one, or (re-prefill after a recompute
        # of a decode) the one after those kept; without it an evicted decode that refills
        # its instance exactly would be evicted again at once, forever, with no progress
        self.generated[env, req] = np.where(first, 1.0, self.generated[env, req] + 1.0)
        complete = self.generated[env, req] >= self.output_tokens[env, req]
        self._complete(env[complete], req[complete])
        env, req = env[~complete], req[~complete]
        self.state[env, req] = DECODING
        self.last_start[env, req] = self.clock[env]
        target = self.decode_to[env, req]
        lo, n = self.group_lo[env, req], self.group_n[env, req]
        moving = (target >= 0) & ~((n == 1) & (lo == target))
        if moving.any():
            self._move_decodes(env[moving], req[moving], target[moving])

    def _move_decodes(self, env, req, target) -> np.ndarray:
        """Move decoding requests' KV to ``target`` instances; returns which moved."""
        kv = self.kv_tokens[env, req]
        fits = self.kv_free()[env, target] >= kv
        if env.size > 1 and (env[1:] == env[:-1]).any():
            # two moves to one instance at once: only the first is checked against its room
            _, first = np.unique(env * self.num_instances + target, return_index=True)
            unique = np.zeros(env.size, dtype=bool)
            unique[first] = True
            fits &= unique
        if not fits.all():
            env, req, target, kv = env[fits], req[fits], target[fits], kv[fits]
        node = self.config.instances_per_node
        lo, n = self.group_lo[env, req], self.group_n[env, req]
        delay = self.cost.kv_transfer_time(kv, cross_node=(lo // node) != (target // node))
        # the KV leaves its group and lands on the target, in one update
        self._add_kv(
            np.concatenate((env, env)),
            np.concatenate((lo, target)),
            np.concatenate((n, np.ones_like(n))),
            np.concatenate((-kv / n, kv)),
        )
        self.group_lo[env, req] = target
        self.group_n[env, req] = 1
        # a transfer still under way finishes first (chained moves cannot skip it)
        self.ready_at[env, req] = np.maximum(self.clock[env], self.ready_at[env, req]) + delay
        self.migrations[env, req] += 1
        return fits

    def _complete_where(self, env, req, done) -> None:
        if done.any():
            self._complete(env[done], req[done])

    def _complete(self, env, req) -> None:
        if not env.size:
            return
        self.state[env, req] = DONE
        self.generated[env, req] = self.output_tokens[env, req]
        self.t_finish[env, req] = self.clock[env]
        self._kv_shift(env, req, self.kv_tokens[env, req], -1.0)
        self.kv_tokens[env, req] = 0.0
        np.add.at(self.num_done, env, 1)
        if (req == self.first_live[env]).any():
            self._update_first_live()

    def _update_first_live(self) -> None:
        win = self.window()
        live = (self.state[:, win] != DONE) & self.exists[:, win]
        any_live = live.any(axis=1)
        first = np.where(any_live, live.argmax(axis=1) + win.start, self.next_arrival)
        self.first_live = np.maximum(self.first_live, np.minimum(first, self.next_arrival))

    def _evict_on_full(self, envs: np.ndarray) -> None:
        """Evict (recompute) the newest decode on each full instance of the given envs."""
        if not envs.any():
            return
        full = (self.kv_used() >= self.kv_capacity * (1 - 1e-12)) & envs[:, None]
        win = self.window()
        env, rel = nonzero2d(self.state[:, win] == DECODING)
        req = rel + win.start
        members = group_members(self.group_lo[env, req], self.group_n[env, req], full.shape[1])
        on_full = (members & full[env]).any(axis=1)
        env, req = env[on_full], req[on_full]
        if not env.size:
            return
        order = np.lexsort((-req, -self.last_start[env, req], env))
        env, req = env[order], req[order]
        first = np.r_[True, env[1:] != env[:-1]]
        env, req = env[first], req[first]
        self.evictions[env, req] += 1
        self._preempt(env, req, np.full(env.size, RECOMPUTE), count=False)

    def _arrive(self, active: np.ndarray) -> None:
        limit = self.clock * (1 + _EPS) + _EPS
        while True:
            arriving = active & (self._next_arrival_time() <= limit)
            if not arriving.any():
                return
            env = np.flatnonzero(arriving)
            self.state[env, self.next_arrival[env]] = WAITING
            self.next_arrival[env] += 1

    def _mark_decisions(self, active: np.ndarray, t_next: np.ndarray, tol: np.ndarray) -> None:
        all_done = self.num_done >= self.num_requests
        at_horizon = t_next >= self.horizon_at - tol
        self.truncated |= active & at_horizon & ~all_done
        self.finished |= active & (all_done | at_horizon)
        win = self.window()
        queue = self.queued(win).any(axis=1)
        if self.config.decision_interval is None:
            self.at_decision |= active & queue
        else:
            tick = self.config.decision_interval
            on_tick = np.abs(t_next / tick - np.round(t_next / tick)) <= _EPS * np.maximum(
                1.0, t_next / tick
            )
            self.at_decision |= active & queue & on_tick

    # ------------------------------------------------------------------------- commands
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
        reason = np.full(env.size, R_OK, dtype=np.int64)
        op = np.asarray(commands.op, dtype=np.int64)
        fields = (commands.req, commands.lo, commands.n, commands.decode_to, commands.mode)
        req, lo, n, decode_to, mode = (np.asarray(f, dtype=np.int64) for f in fields)
        reason[(op < 0) | (op > _MIGRATE)] = R_BAD_MODE
        start, preempt, migrate = (
            np.flatnonzero((op == code) & (reason == R_OK)) for code in (_START, _PREEMPT, _MIGRATE)
        )
        none = np.zeros(0, dtype=np.int64)
        pauses = [(none, none, none)]
        launch = (none,) * 7
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
        reason = np.full(env.size, R_OK, dtype=np.int64)
        ok, req = self._valid_request(env, req)
        state = self.state[env, req]
        kept = self.preempt_mode[env, req]
        queued = self._is_queued(env, req)
        reason[~(ok & queued)] = R_BAD_REQUEST
        swap_pending = (state == PREEMPTED) & (kept == SWAP) & ~queued
        reason[ok & swap_pending] = R_NOT_READY
        reason[(reason == R_OK) & self.acted_now(env, req)] = R_ACTED
        num = self.num_instances
        bad_group = (lo < 0) | (n < 1) | (lo + n > num) | (decode_to < -1) | (decode_to >= num)
        is_kept = (state == PREEMPTED) & (kept == KEEP)
        elsewhere = is_kept & ((lo != self.group_lo[env, req]) | (n != self.group_n[env, req]))
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
        need = np.where(is_kept, 0.0, self.kv_to_load(env, req))
        free = self.kv_free()[env]
        short_of = (members & (free < (need / n)[:, None] - ROOM_TOLERANCE)).any(axis=1)
        reason[(reason == R_OK) & short_of] = R_NO_MEMORY
        go = reason == R_OK
        launch = (env[go], req[go], lo[go], n[go], decode_to[go], needs_slot[go], need[go])
        # the prefills running on the targets are preempted first
        row, inst = nonzero2d(occupied & go[:, None])
        v_env, v_req, v_mode = env[row], on_slot[row, inst], mode[row]
        if row.size > 1:  # an SP prefill covers several targets: preempt it once
            _, first = np.unique(v_env * self.num_requests_max + v_req, return_index=True)
            v_env, v_req, v_mode = v_env[first], v_req[first], v_mode[first]
        return reason, launch, (v_env, v_req, v_mode)

    def kv_to_load(self, env, req) -> np.ndarray:
        """KV tokens a start must place on GPUs (prompt reserve, or the swapped copy)."""
        swapped = (self.state[env, req] == PREEMPTED) & (self.preempt_mode[env, req] == SWAP)
        return np.where(
            swapped & self.resume_decode[env, req],
            self.kv_host[env, req],
            self.prefill_len[env, req].astype(np.float64),
        )

    def _launch(self, env, req, lo, n, decode_to, needs_slot, need) -> None:
        """Start checked requests; ``need`` is the KV each places (:meth:`kv_to_load`)."""
        now = self.clock[env]
        mode = self.preempt_mode[env, req]
        was_swapped = mode == SWAP
        swap_in = np.zeros(env.size)
        if was_swapped.any():
            swap_in[was_swapped] = self.cost.swap_time(self.kv_host[env, req][was_swapped])
        ready = np.where(was_swapped, np.maximum(now, self.swap_ready[env, req]), now) + swap_in
        # a kept request paused during its KV transfer or swap-in still waits for it to end
        ready = np.where(mode == KEEP, np.maximum(ready, self.ready_at[env, req]), ready)
        moved = (self.group_lo[env, req] != lo) | (self.group_n[env, req] != n)
        fresh = (mode != KEEP) & needs_slot
        self.t_start[env, req] = np.where(
            np.isnan(self.t_start[env, req]), now, self.t_start[env, req]
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
            work[special] = self.cost.prefill_time_unchecked(
                prefill_len[special].astype(np.float64), n[pre][special], self.config.sp_method
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

    def _release_prefill_slots(self, env, lo, n) -> None:
        rows, inst = nonzero2d(group_members(lo, n, self.num_instances))
        self.prefill_req[env[rows], inst] = -1

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

    def _preempt(self, env, req, mode, count: bool) -> None:
        """Pause running requests; ``mode`` says where their KV cache goes."""
        if not env.size:
            return
        now = self.clock[env]
        prefilling = self.state[env, req] == PREFILLING
        pf = np.flatnonzero(prefilling)
        self._release_prefill_slots(
            env[pf], self.group_lo[env[pf], req[pf]], self.group_n[env[pf], req[pf]]
        )
        if count:
            self.prefill_preemptions[env[pf], req[pf]] += 1
            self.decode_preemptions[env[~prefilling], req[~prefilling]] += 1
        self.state[env, req] = PREEMPTED
        self.preempt_mode[env, req] = mode
        self.resume_decode[env, req] = ~prefilling
        # tokens actually computed so far (prefill progress is tracked as a work fraction)
        computed = np.where(
            prefilling,
            self.prefill_done[env, req] * self.prefill_len[env, req],
            self.kv_tokens[env, req],
        )
        swap = mode == SWAP
        self.kv_host[env, req] = np.where(swap, computed, 0.0)
        self.swap_ready[env, req] = 0.0
        if swap.any():
            self.swap_ready[env[swap], req[swap]] = now[swap] + self.cost.swap_time(computed[swap])
        recompute = mode == RECOMPUTE
        generated = np.floor(self.generated[env, req])
        self.generated[env, req] = np.where(recompute, generated, self.generated[env, req])
        self.prefill_len[env, req] = np.where(
            recompute & ~prefilling,
            self.input_tokens[env, req] + generated.astype(np.int64),
            self.prefill_len[env, req],
        )
        self.prefill_done[env, req] = np.where(recompute, 0.0, self.prefill_done[env, req])
        self.resume_decode[env, req] &= ~recompute
        freed = swap | recompute
        self._kv_shift(env[freed], req[freed], self.kv_tokens[env[freed], req[freed]], -1.0)
        self.kv_tokens[env, req] = np.where(freed, 0.0, self.kv_tokens[env, req])

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

    # --------------------------------------------------------------------- conveniences
    @property
    def done(self) -> bool:
        """True when every env has finished its episode."""
        return bool(self.finished.all())

    def state_counts(self, env: int) -> dict[str, int]:
        """Requests per lifecycle state in one env."""
        n = int(self.num_requests[env])
        counts = np.bincount(self.state[env, :n], minlength=len(ReqState))
        return {s.name.lower(): int(counts[s]) for s in ReqState}
