"""The batched logic behind every pecgym env: one :class:`ClusterSim` for N episodes.

The single env is this core with N = 1, and the vector env is the same core with N > 1:
there is one code path. Observations, masks, action decoding and rewards are computed for
all envs at once with NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pecgym.envs.layout import AUTO, COLOCATE, Layout
from pecgym.sim.config import ClusterConfig
from pecgym.sim.groups import GroupIndex, group_members, window_all
from pecgym.sim.metrics import summarize
from pecgym.sim.placement import feasible_starts, least_loaded_start, start_requirements
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
        queue_window: int = 16,
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
        self.layout = Layout(num_instances, queue_window, running_window)
        self.record_timeline = record_timeline
        self.sim: ClusterSim | None = None
        self.rngs: list[np.random.Generator] = [np.random.default_rng() for _ in range(num_envs)]
        self.episode_seed = np.zeros(num_envs, dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.prev_area = np.zeros((num_envs, 2))
        self.prev_clock = np.zeros(num_envs)
        self.queue_slots = np.full((num_envs, queue_window), -1, dtype=np.int64)
        self.run_slots = np.full((num_envs, running_window), -1, dtype=np.int64)

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
        rows = np.arange(n)[:, None]
        self._fill_windows()
        slots = np.concatenate((self.queue_slots, self.run_slots), axis=1)
        present = slots >= 0
        req = np.maximum(slots, 0)
        state = np.where(present, sim.state[rows, req], -1)
        kv_used = sim.kv_used()
        capacity = sim.kv_capacity

        # per request
        kept = (state == PREEMPTED) & (sim.preempt_mode[rows, req] == KEEP)
        prefilling = state == PREFILLING
        decoding = state == DECODING
        waited = np.maximum(sim.clock[:, None] - sim.arrival[rows, req], 0.0)
        progress = np.where(decoding, 1.0, sim.prefill_done[rows, req])
        running = prefilling | decoding | kept
        requests = np.stack(
            [
                present,
                state == WAITING,
                state == PREEMPTED,
                kept,
                prefilling,
                decoding,
                sim.is_long[rows, req],
                sim.latency_sensitive[rows, req],
                np.log1p(sim.prefill_len[rows, req]) / _TOKEN_SCALE,
                np.tanh(waited / _WAIT_SCALE),
                progress,
                np.where(running, sim.group_lo[rows, req] / inst, 0.0),
                np.where(running, sim.group_n[rows, req] / inst, 0.0),
                sim.sp_degree_for(sim.prefill_len[rows, req]) / inst,
            ],
            axis=-1,
        )
        requests = np.where(present[..., None], requests, 0.0)

        # per instance
        on = sim.prefill_req
        busy = on >= 0
        pr = np.maximum(on, 0)
        done = sim.prefill_done[rows, pr]
        remaining = (1.0 - done) * sim.prefill_work[rows, pr]
        batch, _ = sim.decode_load()
        paused = self._paused_kv()
        instances = np.stack(
            [
                busy,
                busy & sim.is_long[rows, pr],
                np.where(busy, done, 0.0),
                np.where(busy, np.log1p(remaining) / _WORK_SCALE, 0.0),
                np.minimum(batch / _BATCH_SCALE, 1.0),
                kv_used / capacity,
                paused / capacity,
            ],
            axis=-1,
        )

        # global
        queued = state[:, : layout.queue_window] >= 0
        queue_req = req[:, : layout.queue_window]
        q_long = (queued & sim.is_long[rows, queue_req]).sum(axis=1)
        q_all = queued.sum(axis=1)
        globals_ = np.stack(
            [
                np.tanh(sim.clock / _TIME_SCALE),
                (q_all - q_long) / layout.queue_window,
                q_long / layout.queue_window,
                (state[:, : layout.queue_window] == PREEMPTED).sum(axis=1) / layout.queue_window,
                busy.mean(axis=1),
                np.minimum(batch.sum(axis=1) / (_BATCH_SCALE * inst), 1.0),
                kv_used.sum(axis=1) / (capacity * inst),
                sim.num_done / np.maximum(sim.num_requests, 1),
            ],
            axis=-1,
        )
        return {
            "global": np.clip(globals_, 0.0, 1.0).astype(np.float32),
            "instances": np.clip(instances, 0.0, 1.0).astype(np.float32),
            "requests": np.clip(requests, 0.0, 1.0).astype(np.float32),
        }

    def _fill_windows(self) -> None:
        """Which requests the observation rows show (request index or -1)."""
        sim, layout = self.sim, self.layout
        win = sim.window()
        self.queue_slots.fill(-1)
        self.run_slots.fill(-1)
        self._rank_into(self.queue_slots, [sim.queued(win)], win.start)
        if layout.running_window:
            state = sim.state[:, win]
            decoding = state == DECODING
            long_ = sim.is_long[:, win]
            groups = [state == PREFILLING, decoding & long_, decoding & ~long_]
            self._rank_into(self.run_slots, groups, win.start)

    @staticmethod
    def _rank_into(slots: np.ndarray, groups: list[np.ndarray], start: int) -> None:
        """Fill ``slots`` with the indices of ``groups`` (masks) in order, oldest first."""
        width = slots.shape[1]
        offset = np.zeros(slots.shape[0], dtype=np.int64)
        for mask in groups:
            rank = np.cumsum(mask, axis=1) - 1 + offset[:, None]
            env, col = np.nonzero(mask & (rank < width))
            slots[env, rank[env, col]] = col + start
            offset += mask.sum(axis=1)

    def _paused_kv(self) -> np.ndarray:
        sim = self.sim
        win = sim.window()
        paused = (sim.state[:, win] == PREEMPTED) & (sim.preempt_mode[:, win] == KEEP)
        env, col = np.nonzero(paused)
        req = col + win.start
        index = GroupIndex(
            env, sim.group_lo[env, req], sim.group_n[env, req], self.num_envs, sim.num_instances
        )
        return np.maximum(index.sum(sim.kv_tokens[env, req] / sim.group_n[env, req]), 0.0)

    def slots(self) -> np.ndarray:
        """``(N, window)`` request index shown in each observation row (-1: empty)."""
        return np.concatenate((self.queue_slots, self.run_slots), axis=1)

    # ------------------------------------------------------------------ masks
    def action_masks(self) -> np.ndarray:
        """``(N, sum(nvec))`` per-field masks: each field's allowed values, concatenated.

        They are necessary conditions: op and slot masks are exact for each field alone;
        a combination of allowed values may still be invalid (then it is a no-op).
        """
        sim, layout = self.sim, self.layout
        n, inst = self.num_envs, layout.num_instances
        rows = np.arange(n)[:, None]
        slots = self.slots()
        present = slots >= 0
        req = np.maximum(slots, 0)
        state = np.where(present, sim.state[rows, req], -1)
        free = sim.kv_free()

        queue = slots[:, : layout.queue_window]
        startable = np.zeros(queue.shape, dtype=bool)
        env, col = np.nonzero(queue >= 0)
        if env.size:
            need, k, fixed = start_requirements(sim, env, queue[env, col])
            fits = free[env] >= (need / k)[:, None] - 1e-9
            ok = window_all(fits, k).any(axis=1)
            kept = fixed >= 0
            if kept.any():
                members = group_members(fixed[kept], k[kept], inst)
                ok[kept] = (fits[kept] | ~members).all(axis=1)
            startable[env, col] = ok
        run = state[:, layout.queue_window :]
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
        slots = self.slots()
        req = slots[np.arange(n), slot]
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
            need, k, fixed = start_requirements(sim, e, req[e])
            size = np.where(sp[e] == AUTO, k, sp[e])
            need_all = np.zeros(n)
            size_all = np.ones(n, dtype=np.int64)
            need_all[e], size_all[e] = need, np.minimum(size, inst)
            lo = instance[e] - 1
            auto = instance[e] == AUTO
            if auto.any():
                free_groups = feasible_starts(sim, need_all, size_all, kv_free=free)
                best = least_loaded_start(sim, free_groups, size_all)[e]
                preempting = mode[e] != 0
                if preempting.any():
                    any_groups = feasible_starts(
                        sim, need_all, size_all, allow_busy=True, kv_free=free
                    )
                    fallback = least_loaded_start(sim, any_groups, size_all)[e]
                    best = np.where((best < 0) & preempting, fallback, best)
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
