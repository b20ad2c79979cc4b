"""The batched logic behind every pecgym env: one :class:`ClusterSim` for N episodes.

The single env is this core with N = 1, and the vector env is the same core with N > 1:
there is one code path. Observations (:mod:`pecgym.envs.observation`), exact action masks
and action decoding (:mod:`pecgym.envs.actions`) and rewards (:mod:`pecgym.envs.reward`)
are computed for all envs at once with NumPy.

Decision epochs: after each step an env is at a decision point (an event after which some
request is queued) or its episode has ended. A command (START, PREEMPT, MIGRATE) keeps the
env at the same instant, but each request takes at most one command per instant, so an
instant holds at most ``live requests + 1`` steps; WAIT (or an invalid action, which waits
instead and costs ``reward.invalid_penalty``) lets time run to the next decision point.
Episodes end by themselves: when every request is done (terminated) or at the horizon,
``cluster.drain_time`` after the last arrival (truncated, unfinished requests charged).
:func:`episode_step_bound` bounds the steps of any episode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pecgym.envs import actions as codec
from pecgym.envs.config import EnvConfig
from pecgym.envs.observation import Context, observation_space, observe
from pecgym.envs.reward import episode_objective, make_objective, unfinished_share
from pecgym.envs.rows import (
    NO_ROW,
    RowView,
    queue_counts,
    queue_view_score,
    running_score,
    smallest_into,
)
from pecgym.sim.metrics import summarize
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import OP_NOOP, R_BAD_REQUEST, R_OK
from pecgym.traces.workload import Workload

WorkloadFn = Callable[[int], Workload]


@dataclass
class StepResult:
    """What one batched step returns, per env."""

    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    invalid: np.ndarray
    reject: np.ndarray
    breakdown: dict[str, np.ndarray]


def episode_step_bound(
    num_requests: int,
    move_budget: int | None,
    evictions: int = 0,
    horizon: float = 0.0,
    gap: float | None = None,
) -> int:
    """The most steps an episode of ``num_requests`` requests can take, for any policy.

    An instant holds at most ``N + 1`` steps (each request is commanded at most once, then
    a WAIT). Instants are events, and the events of an episode are at most: ``N`` arrivals,
    ``N`` completions, a prefill end per prefill run (``N`` first runs, one per recompute:
    ``N * B`` by policy, plus the engine's evictions ``V``), a KV transfer per prefill end
    and per migration (``N * B``), a swap out and a swap in per swap (``2 * N * B``), a
    full-memory event per eviction, an iteration boundary per start that is not a resume in
    place (``N + N * B + V``), the horizon, and with a decision gap ``g`` one tick per ``g``
    seconds up to the horizon ``H``: ``E = 5N + 6NB + 4V + 1 + ceil(H / g)``. So an
    episode has at most ``(N + 1) * E`` steps. ``B`` is ``cluster.move_budget`` (no bound
    without one); ``V`` is at most the output tokens of the requests (every prefill after an
    eviction yields a token) and 0 in practice; ``H`` is ``cluster.drain_time`` after the
    last arrival.
    """
    if move_budget is None:
        raise ValueError("episodes have no step bound without cluster.move_budget")
    n, b = num_requests, move_budget
    ticks = 0 if gap is None else math.ceil(horizon / gap)
    if ticks and not math.isfinite(horizon):
        raise ValueError("episodes have no step bound with a decision gap and no horizon")
    events = 5 * n + 6 * n * b + 4 * evictions + 1 + ticks
    return (n + 1) * events


def step_bound(core: SchedCore, env: int) -> int:
    """:func:`episode_step_bound` of env ``env``'s current episode."""
    sim, cluster = core.sim, core.config.cluster
    return episode_step_bound(
        int(sim.read("num_requests")[env]),
        cluster.move_budget,
        int(sim.read("evictions")[env].sum()),
        float(sim.read("horizon_at")[env]),
        cluster.max_decision_gap,
    )


class SchedCore:
    """N independent scheduling episodes advanced together."""

    def __init__(
        self,
        num_envs: int,
        config: EnvConfig | Mapping[str, Any] | None = None,
        *,
        workload_fn: WorkloadFn | None = None,
        record_timeline: bool = False,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if workload_fn is not None and not callable(workload_fn):
            raise TypeError(f"workload_fn must be callable(seed) -> Workload, got {workload_fn!r}")
        self.num_envs = num_envs
        self.config = config if isinstance(config, EnvConfig) else EnvConfig.build(config)
        self.cluster = self.config.cluster
        self.workload_fn = workload_fn
        view = self.config.observation
        self.layout = codec.ActionLayout(
            self.cluster.num_instances, view.queue_rows, view.running_window, view.view_size
        )
        self.objective = make_objective(self.config.reward)
        self.record_timeline = record_timeline
        self.sim: ClusterSim | None = None
        self.rngs: list[np.random.Generator] = [np.random.default_rng() for _ in range(num_envs)]
        self.episode_seed = np.zeros(num_envs, dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.queue_slots = np.full((num_envs, view.queue_rows), -1, dtype=np.int64)
        self.run_slots = np.full((num_envs, view.running_window), -1, dtype=np.int64)
        self._rows: RowView | None = None
        self._masks: np.ndarray | None = None
        self._queue: tuple[np.ndarray, slice] | None = None

    # ------------------------------------------------------------------ spaces
    @property
    def rows(self) -> int:
        """Request rows of the observation."""
        return self.layout.queue_rows + self.layout.running_rows

    def observation_space(self):
        return observation_space(self.cluster.num_instances, self.rows)

    @property
    def num_actions(self) -> int:
        return self.layout.size

    # ------------------------------------------------------------------ episodes
    def make_workload(self, seed: int) -> Workload:
        """The workload of an episode seeded ``seed``."""
        if self.workload_fn is not None:
            workload = self.workload_fn(seed)
            if not isinstance(workload, Workload):
                raise TypeError(
                    f"workload_fn({seed}) returned {type(workload).__name__}, not a Workload"
                )
            return workload
        return self.config.workload.build(seed)

    def reset_envs(self, envs: Sequence[int], seeds: Sequence[int | None]) -> None:
        """Start new episodes in ``envs``; a ``None`` seed draws one from the env's RNG in
        the training seed range (``seeds.train``)."""
        low, high = self.config.seeds.train
        workloads = {}
        for env, seed in zip(envs, seeds, strict=True):
            if seed is not None:
                self.rngs[env] = np.random.default_rng(seed)
                episode_seed = int(seed)
            else:
                episode_seed = low + int(self.rngs[env].integers(high - low))
            self.episode_seed[env] = episode_seed
            workloads[env] = self.make_workload(episode_seed)
        if self.sim is None:
            fill = next(iter(workloads.values()))
            self.sim = ClusterSim(
                self.cluster, [workloads.get(e, fill) for e in range(self.num_envs)]
            )
            if self.record_timeline:
                self.sim.timeline = []
        else:
            for env, workload in workloads.items():
                self.sim.load(env, workload)
        index = np.fromiter(workloads, dtype=np.int64)
        self.steps[index] = 0
        self.sim.advance(index)
        self._refresh()

    # ---------------------------------------------------------------- stepping
    def step(self, actions) -> StepResult:
        """Apply one action per env and run time to each env's next decision point."""
        sim = self.sim
        if sim is None:
            raise RuntimeError("reset before stepping")
        actions = self.check_actions(actions)
        live = ~sim.read("finished")
        t0, start = sim.read("clock").copy(), sim.window().start
        commands = codec.decode(sim, self._rows, self.layout, actions)
        # an action is valid iff the simulator accepts the command it decodes to (what the
        # masks say, tested on every action): the simulator checks the chosen ones and
        # carries out those it accepts
        reject = np.zeros(self.num_envs, dtype=np.int64)
        act = np.flatnonzero(live & (commands.op != OP_NOOP))
        if act.size == self.num_envs:
            reject[:] = sim.apply(commands)
        elif act.size:
            reject[act] = sim.apply(commands.select(act))
        reject[live & (commands.op == OP_NOOP) & (actions != codec.WAIT)] = R_BAD_REQUEST
        invalid = reject != R_OK
        moving = (commands.op == OP_NOOP) | invalid | ~sim.read("at_decision")
        sim.advance(moving & live)
        self.steps += live
        ended = np.flatnonzero(sim.read("finished") & live)
        reward, breakdown = self._reward(t0, start, ended, invalid)
        all_done = sim.read("num_done") >= sim.read("num_requests")
        terminated = sim.read("finished") & all_done & live
        truncated = sim.read("finished") & ~all_done & live
        self._refresh()
        return StepResult(reward, terminated, truncated, invalid, reject, breakdown)

    def end_episodes(self, envs: np.ndarray) -> np.ndarray:
        """End the episodes of ``envs`` now (a caller's step cap): those still running are
        truncated and charged what an episode's end charges. Returns that reward per env
        (0 for episodes that had ended already)."""
        sim = self.sim
        envs = np.asarray(envs, dtype=np.int64)
        running = envs[~sim.read("finished")[envs]]
        reward = np.zeros(self.num_envs)
        if running.size:
            sim.truncate(running)
            clock, start = sim.read("clock").copy(), sim.window().start
            end = self._reward(clock, start, running, np.zeros(self.num_envs, dtype=bool))[0]
            reward[running] = end[running]
            self._refresh()
        return reward[envs]

    def check_actions(self, actions) -> np.ndarray:
        """``actions`` as an int64 array of shape ``(N,)``, or a clear error."""
        array = np.asarray(actions)
        if array.shape != (self.num_envs,) or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"actions must be integers of shape ({self.num_envs},) (one Discrete action "
                f"index per env), got {array.dtype} of shape {array.shape}"
            )
        bad = (array < 0) | (array >= self.layout.size)
        if bad.any():
            env = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"action {int(array[env])} of env {env} is not in [0, {self.layout.size})"
            )
        return array.astype(np.int64)

    def _reward(self, t0, start, ended, invalid):
        sim, weights = self.sim, self.config.reward
        cost = self.objective.interval(sim, t0, start)
        penalty = np.zeros(self.num_envs)
        if ended.size:
            cost[ended] += self.objective.at_end(sim, ended)
            penalty[ended] = weights.unfinished_penalty * unfinished_share(sim, ended)
        breakdown = {
            self.objective.name: -weights.scale * cost,
            "unfinished": -weights.scale * penalty,
            "invalid": -weights.invalid_penalty * invalid,
        }
        reward = sum(breakdown.values()).astype(np.float32)
        return reward, breakdown

    # ------------------------------------------------------------ observation
    def _refresh(self) -> None:
        """Choose the requests the rows show and gather their state (after every change)."""
        sim, view = self.sim, self.config.observation
        win = sim.window()
        queued = sim.queued(win)
        if sim.runs_compiled():
            from pecgym.envs.rows_kernel import choose_rows_compiled

            choose_rows_compiled(sim, view, win, queued, self.queue_slots, self.run_slots)
        else:
            self.queue_slots.fill(-1)
            self.run_slots.fill(-1)
            size = view.view_size
            for k, name in enumerate(view.queue_views):
                score = queue_view_score(sim, name, queued, win)
                columns = self.queue_slots[:, k * size : (k + 1) * size]
                smallest_into(columns, score, NO_ROW, win.start)
            if view.running_window:
                score, limit = running_score(sim, win)
                smallest_into(self.run_slots, score, limit, win.start)
        self._queue = (queued, win)
        self._rows = RowView(sim, self.slots())
        self._masks = None

    def slots(self) -> np.ndarray:
        """``(N, rows)`` request index shown in each observation row (-1: empty)."""
        return np.concatenate((self.queue_slots, self.run_slots), axis=1)

    @property
    def row_view(self) -> RowView:
        """The state of the requests on view (as of the last change)."""
        return self._rows

    def observe(self) -> dict[str, np.ndarray]:
        """The batched observation (see :mod:`pecgym.envs.observation`)."""
        counts = queue_counts(self.sim, *self._queue)
        ctx = Context(self.sim, self._rows, counts, self.layout.queue_rows)
        return observe(ctx)

    def action_masks(self) -> np.ndarray:
        """``(N, num_actions)`` bool: exactly the actions the env carries out now."""
        if self._masks is None:
            self._masks = codec.action_masks(self.sim, self._rows, self.layout)
        return self._masks

    # ------------------------------------------------------- heuristics' actions
    def encode(self, commands: Commands) -> tuple[np.ndarray, np.ndarray]:
        """Actions for simulator commands (see :func:`pecgym.envs.actions.encode`), and per
        command whether it could be encoded."""
        return codec.encode(self.sim, self._rows, self.layout, commands)

    # ------------------------------------------------------------------ info
    def episode_metrics(self, env: int) -> dict:
        """The summary of env ``env``'s episode: :func:`summarize`, the objective, its seed
        and steps."""
        summary = summarize(self.sim, env)
        summary.update(episode_objective(self.sim, env, self.config.reward))
        summary["objective_name"] = self.config.reward.objective
        summary["episode_seed"] = int(self.episode_seed[env])
        summary["steps"] = int(self.steps[env])
        return summary
