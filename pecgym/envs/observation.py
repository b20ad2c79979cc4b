"""The observation, feature by feature: each table below declares a feature's name, what it
measures and its scale, and the formula that fills it; :func:`observe` fills them all.

Observation space: a ``Dict`` of ``Box`` spaces, float32, every value in [0, 1]:

* ``global`` (:data:`GLOBAL_FEATURES`): the cluster as a whole;
* ``instances`` (``num_instances x`` :data:`INSTANCE_FEATURES`): one row per instance;
* ``requests`` (``rows x`` :data:`REQUEST_FEATURES`): the queue views, ``view_size`` rows
  each, then ``running_window`` running requests (:mod:`pecgym.envs.rows`). Empty rows are
  all zero. The action addresses requests by these rows (:mod:`pecgym.envs.actions`).

Output lengths are not observed: a real scheduler does not know them in advance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from gymnasium import spaces

from pecgym.envs.rows import RowView
from pecgym.sim.simulator import ClusterSim
from pecgym.sim.state import DECODING, PREEMPTED, PREFILLING, WAITING

TIME_SCALE = 600.0  # s: clock features are tanh(t / TIME_SCALE)
WAIT_SCALE = 30.0  # s: waiting time is tanh(t / WAIT_SCALE)
WORK_SCALE = float(np.log1p(600.0))  # remaining prefill seconds, log1p-scaled
TOKEN_SCALE = float(np.log1p(1_000_000.0))  # token counts, log1p-scaled
BATCH_SCALE = 64.0  # decode batch sizes


class Context:
    """What the formulas read: the simulator, the request rows, and shared intermediates."""

    def __init__(self, sim: ClusterSim, rows: RowView, queue_counts, queue_rows: int) -> None:
        self.sim, self.rows = sim, rows
        self.queue_all, self.queue_long, self.queue_preempted = queue_counts
        self.queue_rows = queue_rows
        self.instances = sim.num_instances

    def field(self, name: str) -> np.ndarray:
        """The simulator's state field ``name`` (read-only)."""
        return self.sim.read(name)

    def row(self, name: str) -> np.ndarray:
        """The state field ``name`` of each row's request, ``(N, rows)``."""
        return self.rows.take(self.sim.read(name))

    @cached_property
    def kv_used(self) -> np.ndarray:
        return self.sim.kv_used()

    @cached_property
    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per instance: decode batch, its KV context, KV held by paused requests."""
        return self.sim.instance_load()

    @cached_property
    def prefill(self) -> tuple[np.ndarray, np.ndarray]:
        """Per instance: the flat (env, request) index of its prefill, and whether it has one."""
        sim = self.sim
        on = sim.read("prefill_req")
        flat = np.arange(sim.num_envs)[:, None] * sim.num_requests_max + np.maximum(on, 0)
        return flat, on >= 0

    def at_prefill(self, values: np.ndarray) -> np.ndarray:
        """``values`` (per request) of each instance's prefill (0 where none)."""
        flat, busy = self.prefill
        return np.where(busy, values.ravel()[flat], 0)

    @cached_property
    def prefill_done(self) -> np.ndarray:
        return self.at_prefill(self.sim.read("prefill_done"))

    @cached_property
    def state(self) -> np.ndarray:
        return self.rows.state

    @cached_property
    def running(self) -> np.ndarray:
        s = self.state
        return (s == PREFILLING) | (s == DECODING) | self.rows.kept


@dataclass(frozen=True)
class Feature:
    """One observed quantity: ``value(context)`` gives it for every env (and row)."""

    name: str
    description: str
    value: Callable[[Context], np.ndarray]


def _share(count: np.ndarray, ctx: Context) -> np.ndarray:
    return count / ctx.queue_rows


GLOBAL_FEATURES: tuple[Feature, ...] = (
    Feature(
        "time", "simulated time, tanh(t / 600 s)", lambda c: np.tanh(c.field("clock") / TIME_SCALE)
    ),
    Feature(
        "time_left",
        "time to the episode's horizon, tanh(s / 600 s) (1 without one)",
        lambda c: np.tanh(np.maximum(c.field("horizon_at") - c.field("clock"), 0.0) / TIME_SCALE),
    ),
    Feature(
        "queued_short",
        "queued short requests / queue rows (clipped at 1)",
        lambda c: _share(c.queue_all - c.queue_long, c),
    ),
    Feature("queued_long", "queued long requests / queue rows", lambda c: _share(c.queue_long, c)),
    Feature(
        "preempted",
        "queued preempted requests / queue rows",
        lambda c: _share(c.queue_preempted, c),
    ),
    Feature(
        "prefilling_instances",
        "share of instances running a prefill",
        lambda c: np.count_nonzero(c.prefill[1], axis=1) / c.instances,
    ),
    Feature(
        "decoding_requests",
        "decoding requests / (64 x instances), clipped",
        lambda c: c.load[0].sum(axis=1) / (BATCH_SCALE * c.instances),
    ),
    Feature(
        "kv_used",
        "share of the cluster's KV cache in use",
        lambda c: c.kv_used.sum(axis=1) / (c.sim.kv_capacity * c.instances),
    ),
    Feature(
        "progress",
        "share of the episode's requests done",
        lambda c: c.field("num_done") / np.maximum(c.field("num_requests"), 1),
    ),
)

INSTANCE_FEATURES: tuple[Feature, ...] = (
    Feature("prefill_busy", "a prefill runs here", lambda c: c.prefill[1]),
    Feature(
        "prefill_long",
        "... and it belongs to a long request",
        lambda c: c.prefill[1] & c.at_prefill(c.field("is_long")).astype(bool),
    ),
    Feature("prefill_progress", "share of that prefill done", lambda c: c.prefill_done),
    Feature(
        "prefill_remaining",
        "its remaining work, log1p(s) / log1p(600 s)",
        lambda c: (
            np.log1p((1.0 - c.prefill_done) * c.at_prefill(c.field("prefill_work"))) / WORK_SCALE
        ),
    ),
    Feature("decode_batch", "decode batch size / 64, clipped", lambda c: c.load[0] / BATCH_SCALE),
    Feature("kv_used", "share of its KV cache in use", lambda c: c.kv_used / c.sim.kv_capacity),
    Feature(
        "kv_held_paused",
        "share of its KV cache held by paused (kept) requests",
        lambda c: c.load[2] / c.sim.kv_capacity,
    ),
    Feature(
        "decode_pool",
        "takes disaggregated decodes (cluster.decode_pool)",
        lambda c: np.broadcast_to(
            np.arange(c.instances) >= c.instances - c.sim.config.decode_pool_size,
            c.kv_used.shape,
        ),
    ),
)

REQUEST_FEATURES: tuple[Feature, ...] = (
    Feature("present", "the row holds a request", lambda c: c.rows.present),
    Feature("waiting", "never started", lambda c: c.state == WAITING),
    Feature("preempted", "paused; may be resumed", lambda c: c.state == PREEMPTED),
    Feature(
        "kept_on_gpu",
        "paused with its KV kept (resumes on its own group)",
        lambda c: c.rows.kept,
    ),
    Feature("prefilling", "its prefill runs", lambda c: c.state == PREFILLING),
    Feature("decoding", "its decode runs", lambda c: c.state == DECODING),
    Feature("long", "input above the short/long threshold", lambda c: c.row("is_long")),
    Feature(
        "latency_sensitive",
        "labelled latency-sensitive",
        lambda c: c.row("latency_sensitive"),
    ),
    Feature(
        "input_tokens",
        "tokens to prefill, log1p(n) / log1p(1M)",
        lambda c: np.log1p(c.rows.prefill_len) / TOKEN_SCALE,
    ),
    Feature(
        "waited",
        "seconds since arrival, tanh(t / 30 s)",
        lambda c: np.tanh(
            np.maximum(c.field("clock")[:, None] - c.row("arrival"), 0.0) / WAIT_SCALE
        ),
    ),
    Feature(
        "progress",
        "prefill share done (prefilling) or 1 (decoding)",
        lambda c: np.where(c.state == DECODING, 1.0, c.row("prefill_done")),
    ),
    Feature(
        "group_start",
        "first instance of its group / instances (running or kept)",
        lambda c: np.where(c.running, c.rows.group_lo / c.instances, 0.0),
    ),
    Feature(
        "group_size",
        "instances in its group / instances (running or kept)",
        lambda c: np.where(c.running, c.rows.group_n / c.instances, 0.0),
    ),
    Feature(
        "sp_needed",
        "instances its KV needs / instances",
        lambda c: c.sim.sp_degree_for(c.rows.prefill_len) / c.instances,
    ),
    Feature(
        "acted_now",
        "already commanded at this instant (no other command until time moves)",
        lambda c: c.rows.ask(c.sim.acted_now),
    ),
    Feature(
        "moves_left",
        "costly moves (swap, recompute, migrate) left / cluster.move_budget",
        lambda c: _moves_left(c),
    ),
)


def _moves_left(c: Context) -> np.ndarray:
    budget = c.sim.config.move_budget
    if budget is None:
        return np.ones(c.rows.slots.shape)
    if budget == 0:
        return np.zeros(c.rows.slots.shape)
    return c.rows.ask(c.sim.budget_left) / budget


TABLES = {"global": GLOBAL_FEATURES, "instances": INSTANCE_FEATURES, "requests": REQUEST_FEATURES}
"""The observation's keys and their feature tables."""


def observation_space(num_instances: int, rows: int) -> spaces.Dict:
    """The single-env observation space for a cluster and a number of request rows."""
    shapes = {"global": (), "instances": (num_instances,), "requests": (rows,)}
    return spaces.Dict(
        {
            key: spaces.Box(0.0, 1.0, shape=(*shapes[key], len(table)), dtype=np.float32)
            for key, table in TABLES.items()
        }
    )


def observe(ctx: Context) -> dict[str, np.ndarray]:
    """The batched observation: every feature of every table, clipped to [0, 1]; empty
    request rows are all zero."""
    out = {}
    for key, table in TABLES.items():
        columns = [np.asarray(f.value(ctx), dtype=np.float32) for f in table]
        shape = np.broadcast_shapes(*(c.shape for c in columns))
        block = np.empty((*shape, len(table)), np.float32)
        for i, column in enumerate(columns):
            block[..., i] = column
        out[key] = np.clip(block, 0.0, 1.0, out=block)
    out["requests"][~ctx.rows.present] = 0.0
    return out


def describe() -> str:
    """The feature tables as text (one line per feature)."""
    lines = []
    for key, table in TABLES.items():
        lines.append(f"{key}:")
        lines += [f"  {i:2d} {f.name:<22} {f.description}" for i, f in enumerate(table)]
    return "\n".join(lines)
