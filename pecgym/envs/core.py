"""The batched logic behind every pecgym env: one :class:`ClusterSim` for N episodes.

The single env is this core with N = 1, and the vector env is the same core with N > 1:
there is one code path. Observations, masks, action decoding and rewards are computed for
all envs at once with NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pecgym.envs.layout import (
    AUTO,
    COLOCATE,
    GLOBAL_FEATURES,
    INSTANCE_FEATURES,
    REQUEST_FEATURES,
    Layout,
)
from pecgym.envs.rows import (
    NO_ROW,
    RowView,
    gather_rows,
    queue_counts,
    queue_view_score,
    running_score,
    smallest_into,
)
from pecgym.sim.config import ClusterConfig
from pecgym.sim.groups import group_members, nonzero2d, window_all
from pecgym.sim.metrics import summarize
from pecgym.sim.placement import choose_starts
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import DECODING, KEEP, PREEMPTED, PREFILLING, WAITING, Op, Reject
from pecgym.traces.spec import WorkloadSpec
from pecgym.traces.workload import Workload

WorkloadSource = WorkloadSpec | Callable[[int], Workload]
_TIME_SCALE, _WAIT_SCALE, _WORK_SCALE = 600.0, 30.0, np.log1p(600.0)
_TOKEN_SCALE, _BATCH_SCALE = np.log1p(1_000_000.0), 64.0
_SEED_BOUND = 2**31 - 1


@dataclass(frozen=True)
class RewardWeights:
    """The reward of one step: minus the weighted cost accrued during it, times ``scale``.

    cost = short_wait x (request-seconds short requests spent queued)
         + long_wait x (request-seconds long requests spent queued)
         + starvation x (long requests that passed the starvation timeout unstarted)
         + invalid x (1 if the action was invalid, else 0)

    Summed over an episode, the default rewards low queueing delay of short requests while
    every long request left waiting past the timeout costs as much as 50 short-request-seconds.
    """

    short_wait: float = 1.0
    long_wait: float = 0.1
    starvation: float = 50.0
    invalid: float = 0.1
    scale: float = 0.1


class SchedCore:
    """N independent scheduling episodes advanced together."""

    def __init__(
        self,
        num_envs: int,
        *,
        model: str = "llama-3-8b",
        gpu: str = "a100",
        tp: int = 1,
        num_instances: int = 8,
        workload: WorkloadSource | dict | None = None,
        view_size: int = 8,
        queue_views: Sequence[str] = ("oldest", "shortest"),
        running_window: int = 16,
        reward: RewardWeights | dict | None = None,
        max_episode_steps: int | None = 10_000,
        horizon: float | None = None,
        decision_interval: float | None = None,
        max_decision_gap: float | None = 1.0,
        sp_method: str = "ulysses",
        short_threshold: int = 4096,
        starvation_timeout: float = 300.0,
        ttft_slo: float = 3.0,
        weight_bits: int = 16,
        record_timeline: bool = False,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = num_envs
        self.config = ClusterConfig(
            model=model,
            gpu=gpu,
            tp=tp,
            num_instances=num_instances,
            sp_method=sp_method,
            short_threshold=short_threshold,
            starvation_timeout=starvation_timeout,
            ttft_slo=ttft_slo,
            weight_bits=weight_bits,
            decision_interval=decision_interval,
            max_decision_gap=max_decision_gap,
            horizon=horizon,
        )
        if workload is None:
            workload = WorkloadSpec(num_requests=128)
        elif isinstance(workload, dict):
            workload = WorkloadSpec(**workload)
        self.workload = workload
        self.reward_weights = (
            RewardWeights(**reward) if isinstance(reward, dict) else (reward or RewardWeights())
        )
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        self.max_episode_steps = max_episode_steps
        self.layout = Layout(num_instances, view_size, tuple(queue_views), running_window)
        self.record_timeline = record_timeline
        self.sim: ClusterSim | None = None
        self.rngs: list[np.random.Generator] = [np.random.default_rng() for _ in range(num_envs)]
        self.episode_seed = np.zeros(num_envs, dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.prev_area = np.zeros((num_envs, 2))
        self.prev_clock = np.zeros(num_envs)
        self.queue_slots = np.full((num_envs, self.layout.queue_window), -1, dtype=np.int64)
        self.run_slots = np.full((num_envs, running_window), -1, dtype=np.int64)
        self._instances = np.zeros((num_envs, num_instances, len(INSTANCE_FEATURES)), np.float32)
        self._global = np.zeros((num_envs, len(GLOBAL_FEATURES)), np.float32)
        self._stamp = 0  # bumped whenever the simulator state may change
        self._rows: RowView | None = None  # rows of the last observation, and its stamp
        self._rows_stamp = -1

    # ------------------------------------------------------------------ episodes
    def make_workload(self, seed: int) -> Workload:
        """The workload of an episode seeded ``seed``."""
        source = self.workload
        return source.build(seed) if isinstance(source, WorkloadSpec) else source(seed)

    def reset_envs(self, envs: Sequence[int], seeds: Sequence[int | None]) -> None:
        """Start new episodes in ``envs``; a ``None`` seed draws one from the env's RNG."""
        workloads = {}
        for env, seed in zip(envs, seeds, strict=True):
            if seed is not None:
                self.rngs[env] = np.random.default_rng(seed)
                episode_seed = int(seed)
            else:
                episode_seed = int(self.rngs[env].integers(_SEED_BOUND))
            self.episode_seed[env] = episode_seed
            workloads[env] = self.make_workload(episode_seed)
        if self.sim is None:
            fill = next(iter(workloads.values()))
            self.sim = ClusterSim(
                self.config, [workloads.get(e, fill) for e in range(self.num_envs)]
            )
            if self.record_timeline:
                self.sim.timeline = []
        else:
            for env, workload in workloads.items():
                self.sim.load(env, workload)
        index = np.fromiter(workloads, dtype=np.int64)
        self._stamp += 1
        self.steps[index] = 0
        self.prev_area[index] = 0.0
        self.prev_clock[index] = 0.0
        self.sim.advance(index)

    # ---------------------------------------------------------------- stepping
    def step(self, actions: np.ndarray):
        """Apply one action per env and run time to each env's next decision point.

        Returns ``(reward, terminated, truncated, invalid, reject)`` arrays of shape (N,).
        """
        sim = self.sim
        actions = self._check_actions(actions)
        commands, invalid = self.to_commands(actions)
        self._stamp += 1
        reject = np.zeros(self.num_envs, dtype=np.int64)
        act = np.flatnonzero(~invalid & ~sim.finished & (commands.op != Op.NOOP))
        if act.size:
            reject[act] = sim.apply(commands.select(act))
        invalid |= reject != Reject.OK
        moving = (commands.op == Op.NOOP) | invalid | ~sim.at_decision
        sim.advance(moving & ~sim.finished)
        self.steps += 1
        reward = self._reward(invalid)
        out_of_steps = (
            self.steps >= self.max_episode_steps
            if self.max_episode_steps is not None
            else np.zeros(self.num_envs, dtype=bool)
        )
        all_done = sim.num_done >= sim.num_requests
        terminated = sim.finished & all_done
        truncated = ~terminated & (sim.finished | out_of_steps)
        return reward, terminated, truncated, invalid, reject

    def _check_actions(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        nvec = self.layout.action_nvec
        if actions.shape != (self.num_envs, nvec.size) or not np.issubdtype(
            actions.dtype, np.integer
        ):
            raise ValueError(
                f"actions must be an integer array of shape ({self.num_envs}, {nvec.size}) "
                f"(op, slot, instance, sp, decode, mode), got {actions.dtype} {actions.shape}"
            )
        bad = (actions < 0) | (actions >= nvec)
        if bad.any():
            env, field = np.argwhere(bad)[0]
            names = ("op", "slot", "instance", "sp", "decode", "mode")
            raise ValueError(
                f"action out of range in env {env}: {names[field]}={actions[env, field]} "
                f"is not in [0, {nvec[field]})"
            )
        return actions.astype(np.int64)

    def _reward(self, invalid: np.ndarray) -> np.ndarray:
        sim, w = self.sim, self.reward_weights
        area = sim.wait_area - self.prev_area
        self.prev_area = sim.wait_area.copy()
        new_starved = self._new_starvation()
        self.prev_clock = sim.clock.copy()
        cost = (
            w.short_wait * area[:, 0]
            + w.long_wait * area[:, 1]
            + w.starvation * new_starved
            + w.invalid * invalid
        )
        return (-w.scale * cost).astype(np.float32)

    def _new_starvation(self) -> np.ndarray:
        """Per env, long requests whose starvation deadline (arrival + timeout) passed during
        this step without them having started."""
        sim = self.sim
        win = sim.window()
        deadline = sim.arrival[:, win] + sim.config.starvation_timeout
        crossed = (deadline > self.prev_clock[:, None]) & (deadline <= sim.clock[:, None])
        started_in_time = sim.t_start[:, win] <= deadline  # False while never started
        return (sim.is_long[:, win] & crossed & ~started_in_time).sum(axis=1)

    # ------------------------------------------------------------ observation
    def observe(self) -> dict[str, np.ndarray]:
        """The batched observation (see :mod:`pecgym.envs.layout`)."""
        sim, layout = self.sim, self.layout
        n, inst = self.num_envs, layout.num_instances
        self._fill_windows()
        rows = self._current_rows()
        present, state, take = rows.present, rows.state, rows.take
        kv_used = sim.kv_used()
        capacity = sim.kv_capacity

        # per request (every feature is written; those that could leave [0, 1] are clipped)
        out = np.empty((n, layout.window, len(REQUEST_FEATURES)), np.float32)
        prefilling = state == PREFILLING
        decoding = state == DECODING
        running = prefilling | decoding | rows.kept
        waited = np.maximum(sim.clock[:, None] - take(sim.arrival), 0.0)
        out[..., 0] = present
        out[..., 1] = state == WAITING
        out[..., 2] = state == PREEMPTED
        out[..., 3] = rows.kept
        out[..., 4] = prefilling
        out[..., 5] = decoding
        out[..., 6] = take(sim.is_long)
        out[..., 7] = take(sim.latency_sensitive)
        out[..., 8] = np.minimum(np.log1p(rows.prefill_len) / _TOKEN_SCALE, 1.0)
        out[..., 9] = np.tanh(waited / _WAIT_SCALE)
        out[..., 10] = np.where(decoding, 1.0, np.minimum(take(sim.prefill_done), 1.0))
        out[..., 11] = np.where(running, rows.group_lo / inst, 0.0)
        out[..., 12] = np.where(running, rows.group_n / inst, 0.0)
        out[..., 13] = rows.sp_need / inst
        out[~present] = 0.0

        # per instance
        on = sim.prefill_req
        busy = on >= 0
        flat_on = (np.arange(n)[:, None] * sim.num_requests_max + np.maximum(on, 0)).ravel()
        done = np.where(busy, sim.prefill_done.ravel()[flat_on].reshape(on.shape), 0.0)
        work = sim.prefill_work.ravel()[flat_on].reshape(on.shape)
        batch, _, paused_kv = sim.instance_load()
        nodes = self._instances
        nodes[..., 0] = busy
        nodes[..., 1] = busy & sim.is_long.ravel()[flat_on].reshape(on.shape)
        nodes[..., 2] = done
        nodes[..., 3] = np.where(busy, np.log1p((1.0 - done) * work) / _WORK_SCALE, 0.0)
        nodes[..., 4] = np.minimum(batch / _BATCH_SCALE, 1.0)
        nodes[..., 5] = kv_used / capacity
        nodes[..., 6] = paused_kv / capacity

        # global
        q_all, q_long, q_preempted = self._queue_counts
        world = self._global
        world[:, 0] = np.tanh(sim.clock / _TIME_SCALE)
        world[:, 1] = (q_all - q_long) / layout.queue_window
        world[:, 2] = q_long / layout.queue_window
        world[:, 3] = q_preempted / layout.queue_window
        world[:, 4] = np.count_nonzero(busy, axis=1) / inst
        world[:, 5] = np.minimum(batch.sum(axis=1) / (_BATCH_SCALE * inst), 1.0)
        world[:, 6] = kv_used.sum(axis=1) / (capacity * inst)
        world[:, 7] = sim.num_done / np.maximum(sim.num_requests, 1)
        return {
            "global": np.clip(world, 0.0, 1.0),
            "instances": np.clip(nodes, 0.0, 1.0),
            "requests": out,
        }

    def _fill_windows(self) -> None:
        """Which requests the observation rows show (request index or -1)."""
        sim, layout = self.sim, self.layout
        win = sim.window()
        self.queue_slots.fill(-1)
        self.run_slots.fill(-1)
        self._rows = None  # the rows show other requests now
        queued = sim.queued(win)
        self._queue_counts = queue_counts(sim, queued, win)
        size = layout.view_size
        for k, view in enumerate(layout.queue_views):
            score = queue_view_score(sim, view, queued, win)
            view_slots = self.queue_slots[:, k * size : (k + 1) * size]
            smallest_into(view_slots, score, NO_ROW, win.start)
        if layout.running_window:
            score, limit = running_score(sim, win)
            smallest_into(self.run_slots, score, limit, win.start)

    def slots(self) -> np.ndarray:
        """``(N, window)`` request index shown in each observation row (-1: empty)."""
        return np.concatenate((self.queue_slots, self.run_slots), axis=1)

    def _current_rows(self) -> RowView:
        """The rows of the last observation, gathered again if the windows were refilled or
        the state moved since."""
        if self._rows is None or self._rows_stamp != self._stamp:
            self._rows = gather_rows(self.sim, self.slots())
            self._rows_stamp = self._stamp
        return self._rows

    # ------------------------------------------------------------------ masks
    def action_masks(self) -> np.ndarray:
        """``(N, sum(nvec))`` per-field masks: each field's allowed values, concatenated.

        They are necessary conditions: op and slot masks are exact for each field alone;
        a combination of allowed values may still be invalid (then it is a no-op).
        """
        sim, layout = self.sim, self.layout
        n, inst = self.num_envs, layout.num_instances
        rows = self._current_rows()
        free = sim.kv_free()

        queue = slice(0, layout.queue_window)
        need, k, fixed = (part[:, queue] for part in rows.start_requirements(sim))
        share = need / k - 1e-9
        # one instance: any instance with room; a group: a run of k instances with room
        startable = free.max(axis=1)[:, None] >= share
        listed = rows.present[:, queue]
        env, col = nonzero2d(listed & ((k > 1) | (fixed >= 0)))
        if env.size:
            k_of, fixed_of = k[env, col], fixed[env, col]
            fits = free[env] >= share[env, col][:, None]
            in_run = window_all(fits, k_of).any(axis=1)
            # a kept request must resume on its own group
            own = group_members(np.maximum(fixed_of, 0), k_of, inst)
            startable[env, col] = np.where(fixed_of >= 0, (fits | ~own).all(axis=1), in_run)
        startable &= listed
        run = rows.state[:, layout.queue_window :]
        preemptable = (run == PREFILLING) | (run == DECODING)
        migratable = (run == DECODING) & (inst > 1)

        op = np.stack(
            [
                np.ones(n, dtype=bool),
                startable.any(axis=1),
                preemptable.any(axis=1),
                migratable.any(axis=1),
            ],
            axis=1,
        )
        slot = np.concatenate((startable, preemptable), axis=1)
        hosts = (free > 0) | (sim.prefill_req >= 0)
        true = np.ones((n, 1), dtype=bool)
        instance = np.concatenate((true, hosts), axis=1)
        sp = np.ones((n, inst + 1), dtype=bool)
        decode = np.concatenate((true, true, free > 0), axis=1)
        mode = np.ones((n, 4), dtype=bool)
        return np.concatenate((op, slot, instance, sp, decode, mode), axis=1)

    # ------------------------------------------------------- action decoding
    def to_commands(self, actions: np.ndarray) -> tuple[Commands, np.ndarray]:
        """Simulator commands for the actions, and which actions cannot be carried out."""
        sim = self.sim
        n, inst = self.num_envs, self.layout.num_instances
        op, slot, instance, sp, decode, mode = actions.T
        rows = self._current_rows()
        req = rows.slots[np.arange(n), slot]
        commands = Commands.empty(n)
        commands.op[:] = op
        commands.req[:] = np.maximum(req, 0)
        commands.mode[:] = mode
        invalid = (op != Op.NOOP) & (req < 0)
        free = sim.kv_free()
        envs = np.arange(n)

        start = (op == Op.START) & ~invalid
        if start.any():
            e = envs[start]
            need, k, fixed = (part[e, slot[e]] for part in rows.start_requirements(sim))
            size = np.where(sp[e] == AUTO, k, sp[e])
            lo = instance[e] - 1
            auto = instance[e] == AUTO
            if auto.any():
                best = choose_starts(sim, e, need, np.minimum(size, inst), mode[e] != 0)
                best = np.where(fixed >= 0, fixed, best)
                lo = np.where(auto, best, lo)
            invalid[e] |= lo < 0
            commands.lo[e] = np.maximum(lo, 0)
            commands.n[e] = size
            target = decode[e] - 2
            if (decode[e] == 1).any():
                members = group_members(np.maximum(lo, 0), np.minimum(size, inst), inst)
                roomiest = np.where(members, -np.inf, free[e]).argmax(axis=1)
                target = np.where(decode[e] == 1, roomiest, target)
            commands.decode_to[e] = np.where(decode[e] == COLOCATE, -1, target)

        preempt = (op == Op.PREEMPT) & ~invalid
        commands.mode[preempt] = np.where(mode[preempt] == 0, KEEP, mode[preempt])

        migrate = (op == Op.MIGRATE) & ~invalid
        if migrate.any():
            e = envs[migrate]
            current = sim.group_lo[e, req[e]]
            others = np.where(np.arange(inst)[None, :] == current[:, None], -np.inf, free[e])
            target = np.where(instance[e] == AUTO, others.argmax(axis=1), instance[e] - 1)
            commands.lo[e] = target
        return commands, invalid

    def encode(self, commands: Commands) -> np.ndarray:
        """Actions for simulator commands (one per env, rows by env) of requests on view.

        A heuristic reads the simulator, decides commands, and acts through this encoding
        like any agent. A command whose request is not in the window becomes a NOOP.
        """
        n = self.num_envs
        actions = np.zeros((n, 6), dtype=np.int64)
        env = commands.env
        slots = self.slots()[env]
        hit = slots == commands.req[:, None]
        shown = hit.any(axis=1) & (commands.op != Op.NOOP)
        actions[env, 0] = np.where(shown, commands.op, Op.NOOP)
        actions[env, 1] = np.where(shown, hit.argmax(axis=1), 0)
        start = commands.op == Op.START
        actions[env, 2] = np.where(
            shown & (start | (commands.op == Op.MIGRATE)), commands.lo + 1, 0
        )
        actions[env, 3] = np.where(shown & start, commands.n, 0)
        actions[env, 4] = np.where(
            shown & start & (commands.decode_to >= 0), commands.decode_to + 2, COLOCATE
        )
        actions[env, 5] = np.where(shown, commands.mode, 0)
        return actions

    # ------------------------------------------------------------------ info
    def episode_metrics(self, env: int) -> dict:
        """The simulator's summary of env ``env``'s episode (see :func:`summarize`)."""
        summary = summarize(self.sim, env)
        summary["episode_seed"] = int(self.episode_seed[env])
        summary["steps"] = int(self.steps[env])
        return summary
