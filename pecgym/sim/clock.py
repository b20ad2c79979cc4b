"""The event clock: each env jumps to its own next event and processes what happens there."""

from __future__ import annotations

import numpy as np

from pecgym.sim.cluster_state import EPS, MAX_EVENTS_WITHOUT_PROGRESS
from pecgym.sim.groups import (
    GroupIndex,
    group_max,
    group_members,
    group_min,
    nonzero2d,
)
from pecgym.sim.state import (
    DECODING,
    PREEMPTED,
    PREFILLING,
    RECOMPUTE,
    SWAP,
    WAITING,
)
from pecgym.sim.transitions import Transitions


class SimulationError(RuntimeError):
    """The simulator reached a state it cannot leave (a bug, reported with context)."""


class EventClock(Transitions):
    """Runs envs from decision point to decision point."""

    def advance(self, envs: np.ndarray | None = None) -> None:
        """Run the given envs (bool mask or indices; default all) to their next decision.

        A decision point is an event (in decision-interval mode: a tick) after which the env
        has a request to schedule; an env also stops when it finishes.
        """
        active = np.zeros(self.num_envs, dtype=bool)
        active[slice(None) if envs is None else envs] = True
        active &= ~self.finished
        self.at_decision[active] = False
        if self.runs_compiled():
            self._advance_compiled(active)
            return
        stuck = 0
        while active.any():
            before = self.clock.copy()
            self.events_run += int(np.count_nonzero(active))
            self._next_event(active)
            active &= ~(self.at_decision | self.finished)
            stuck = stuck + 1 if np.array_equal(before, self.clock) else 0
            if stuck > MAX_EVENTS_WITHOUT_PROGRESS:
                self._raise_stuck(active, stuck)

    def _raise_stuck(self, active: np.ndarray, stuck: int) -> None:
        raise SimulationError(
            f"no simulated time passed in {stuck} events (envs "
            f"{np.flatnonzero(active)[:8].tolist()} at t={self.clock[active][:8]})"
        )

    def truncate(self, envs: np.ndarray) -> None:
        """End the episodes of ``envs`` now, unfinished (a caller's step cap)."""
        self.finished[envs] = True
        self.truncated[envs] = True
        self.at_decision[envs] = False

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
        batch_size, iteration = self._iteration_times(batch, context, prefilling)
        prefill_share = self.prefill_share(iteration, batch)
        busy = prefilling | (batch > 0)
        self._track_iterations(active, busy, iteration, 2 * batch_size + prefilling)

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
            t_next = np.minimum(t_next, (np.floor(now / tick + EPS) + 1.0) * tick)
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
        self.clock[:] = t_next  # in place: the compiled clock holds these arrays
        self._queued_memo = None  # time moved: swaps may have finished; events follow
        if d_env.size:
            self._kv_used += decodes.sum(tokens / d_n)
            self._kv_views = None
        self.num_events += active

        # what happens at t_next, in order: completions, memory, arrivals
        tol = EPS * np.maximum(1.0, t_next)
        limit = t_next + tol
        self._finish_prefills(p_env, p_req, (p_done_at <= limit[p_env]) & active[p_env])
        self._complete_where(d_env, d_req, (d_done_at <= limit[d_env]) & active[d_env])
        full = active & (full_at <= limit)
        if full.any():
            self._evict_on_full(full)
        arriving = active & (arrival_at <= limit)
        if arriving.any():
            self._arrive(arriving)
        self._mark_decisions(active, t_next, tol)

    def _iteration_times(self, batch, context, prefilling) -> tuple[np.ndarray, np.ndarray]:
        """Per instance: decode batch size, and the time of one iteration (a prefill chunk
        beside a decode batch, or the batch alone; a prefill alone runs at its solo speed)."""
        batch_size = batch.astype(np.int64)
        chunk = np.where(prefilling & (batch_size > 0), self.config.chunk_tokens, 0)
        return batch_size, self.cost.step_time(chunk, batch_size, context)

    def _track_iterations(self, active, busy, iteration, mix) -> None:
        """Per instance of the active envs: the length of its iteration now, and since when
        its iterations run back to back. A new batch (``mix``: decodes and prefill) marks an
        iteration boundary, as engines change batches only there; NaN when idle."""
        rows = active[:, None]
        anchor = np.isnan(self.busy_since) | (mix != self.batch_mix)
        since = np.where(anchor, self.clock[:, None], self.busy_since)
        self.busy_since[:] = np.where(rows, np.where(busy, since, np.nan), self.busy_since)
        self.iteration_time[:] = np.where(rows, np.where(busy, iteration, 0.0), self.iteration_time)
        self.batch_mix[:] = np.where(rows, mix, self.batch_mix)

    def _iterations_end(self, env, req) -> None:
        """A request finishing its prefill or its decode ends an iteration on its group: new
        work admitted there now need not wait."""
        rows, inst = nonzero2d(
            group_members(self.group_lo[env, req], self.group_n[env, req], self.num_instances)
        )
        self.busy_since[env[rows], inst] = self.clock[env[rows]]

    def _advance_compiled(self, active: np.ndarray) -> None:
        """:meth:`advance`'s events in one call of the compiled clock."""
        kernel, scratch, settings, state = self._kernel_args()
        chunk = int(self.config.chunk_tokens)
        tables = (chunk, *self.cost.step_tables(chunk + self.num_requests_max))
        attention = self.cost.attention_coefficients
        events, stuck = kernel.advance(active, scratch, tables, attention, settings, state)
        self.events_run += events
        self._queued_memo = None
        self._kv_views = None
        if stuck:
            self._raise_stuck(active, MAX_EVENTS_WITHOUT_PROGRESS + 1)

    def _kernel_args(self):
        """The kernel module, its scratch arrays, its settings and the state arrays it works
        on (:data:`~pecgym.sim.kernel.STATE_ARGS`), gathered once per allocation."""
        if self._kernel_cache is None:
            from pecgym.sim import kernel

            config, shape = self.config, (self.num_envs, self.num_instances)
            floats = (np.empty(shape), np.empty(shape))
            scratch = (*floats, np.empty(shape, dtype=bool), np.empty(shape))
            tick = config.decision_interval
            gap = config.max_decision_gap
            settings = (
                self._solo_chunk_time,
                self.kv_capacity,
                0.0 if tick is None else float(tick),
                np.inf if gap is None else float(gap),
                self.cost.transfer_coefficients(),
                int(config.instances_per_node),
            )
            state = tuple(getattr(self, name) for name in kernel.STATE_ARGS)
            self._kernel_cache = (kernel, scratch, settings, state)
        return self._kernel_cache

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
                growth > EPS, self.clock[:, None] + (self.kv_capacity - used) / growth, np.inf
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
        self._iterations_end(env, req)
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

    def _complete_where(self, env, req, done) -> None:
        if done.any():
            self._iterations_end(env[done], req[done])
            self._complete(env[done], req[done])

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
        limit = self.clock * (1 + EPS) + EPS
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
            on_tick = np.abs(t_next / tick - np.round(t_next / tick)) <= EPS * np.maximum(
                1.0, t_next / tick
            )
            self.at_decision |= active & queue & on_tick
