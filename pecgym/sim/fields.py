"""The simulator's state, declared once: every array's name, shape family, dtype and reset
value. Allocation, growth (more requests) and the per-env reset are generated from
:data:`FIELDS` (:class:`~pecgym.sim.simulator.ClusterSim`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

SHAPES = {
    "request": lambda e, r, i: (e, r),
    "request_instance": lambda e, r, i: (e, r, i),
    "instance": lambda e, r, i: (e, i),
    "env": lambda e, r, i: (e,),
    "env_class": lambda e, r, i: (e, 2),
}
"""Shape families by name, as functions of (envs, requests, instances)."""

PER_REQUEST = ("request", "request_instance")
"""Families that grow with the request axis (the others keep their arrays on growth)."""


@dataclass(frozen=True)
class Field:
    """One state array: ``shape`` is a :data:`SHAPES` family, ``fill`` its value on
    allocation and on an env's reset."""

    name: str
    shape: str
    dtype: type = np.float64
    fill: float | int | bool = 0
    doc: str = ""
    readable: bool = True

    def allocate(self, envs: int, requests: int, instances: int) -> np.ndarray:
        return np.full(SHAPES[self.shape](envs, requests, instances), self.fill, self.dtype)

    @property
    def per_request(self) -> bool:
        return self.shape in PER_REQUEST


def _fields(shape: str, specs: Iterable[tuple]) -> tuple[Field, ...]:
    return tuple(Field(name, shape, *rest) for name, *rest in specs)


INF, NAN = float("inf"), float("nan")

FIELDS: tuple[Field, ...] = (
    # the workload
    *_fields(
        "request",
        [
            ("arrival", np.float64, INF),
            ("input_tokens", np.int64),
            ("output_tokens", np.int64),
            ("is_long", bool),
            ("latency_sensitive", bool),
            ("exists", bool),
            # dynamic state
            ("state", np.int8),
            ("group_lo", np.int64),
            ("group_n", np.int64),
            ("decode_to", np.int64, -1),
            ("prefill_len", np.int64),
            ("prefill_work", np.float64, 1.0, "seconds of prefill alone on its group"),
            ("prefill_done", np.float64, 0, "fraction of the prefill done"),
            ("generated", np.float64, 0, "output tokens produced (fluid)"),
            ("kv_tokens", np.float64, 0, "KV tokens held on GPUs (whole request)"),
            ("kv_host", np.float64, 0, "KV tokens swapped to host memory"),
            ("ready_at", np.float64, 0, "blocked (swap-in / KV transfer) until then"),
            ("swap_ready", np.float64, 0, "its copy to host finishes then"),
            ("preempt_mode", np.int8),
            ("resume_decode", bool, False, "preempted while decoding"),
            ("last_start", np.float64),
            ("acted_at", np.float64, -INF, "time of the last command on the request"),
            ("moves_used", np.int64, 0, "of the move budget"),
            ("jct_alone", np.float64, 1.0, "JCT on an idle cluster (the slowdown's unit)"),
            # timestamps and counters
            ("t_start", np.float64, NAN),
            ("t_first_token", np.float64, NAN),
            ("t_finish", np.float64, NAN),
            ("prefill_preemptions", np.int64),
            ("decode_preemptions", np.int64),
            ("evictions", np.int64),
            ("migrations", np.int64),
        ],
    ),
    Field(
        "prompt_prefill_work",
        "request_instance",
        np.float64,
        1.0,
        "the prompt's prefill seconds per group size 1..I",
    ),
    *_fields(
        "instance",
        [
            ("prefill_req", np.int64, -1),
            ("busy_since", np.float64, NAN, "its iterations run back to back from then"),
            ("iteration_time", np.float64, 0, "length of its running iteration (0: idle)"),
            ("batch_mix", np.int64, 0, "2 x decode batch + prefill running, at that time"),
            ("busy_time", np.float64),
            ("idle_time", np.float64),
            ("_kv_used", np.float64, 0, "per-instance KV, kept up to date by every change"),
        ],
    ),
    *_fields(
        "env",
        [
            ("clock", np.float64),
            ("horizon_at", np.float64, INF, "the episode is truncated there"),
            ("num_requests", np.int64),
            ("next_arrival", np.int64),
            ("first_live", np.int64),
            ("num_done", np.int64),
            ("at_decision", bool),
            ("finished", bool),
            ("truncated", bool),
            ("stalled", bool),
            ("num_events", np.int64),
        ],
    ),
    Field("wait_area", "env_class", np.float64, 0, "request-seconds queued: short, long"),
)
"""Every state array of :class:`~pecgym.sim.simulator.ClusterSim`."""

INTERNAL = (
    "_kv_used",  # read kv_used() / kv_free()
    "ready_at",
    "swap_ready",  # read queued()
    "decode_to",
    "last_start",
    "first_live",  # read window()
    "prompt_prefill_work",
    "busy_since",
    "iteration_time",
    "batch_mix",  # read admission_time()
    "acted_at",  # read acted_now()
    "moves_used",  # read budget_left()
    "kv_host",  # read start_requirements()
)
"""Fields only the simulator reads: the others read them through its views."""

FIELDS = tuple(replace(field, readable=field.name not in INTERNAL) for field in FIELDS)
FIELD_BY_NAME = {field.name: field for field in FIELDS}
