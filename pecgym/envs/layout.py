"""Observation and action layout of the scheduling env, feature by feature.

Observation: a flat ``Dict`` of ``Box`` spaces (float32, every value in [0, 1]):

* ``global`` (``GLOBAL_FEATURES``): the cluster as a whole.
* ``instances`` (``num_instances x INSTANCE_FEATURES``): one row per instance.
* ``requests`` (``window x REQUEST_FEATURES``): queued requests (waiting or preempted) as
  seen through ``queue_views``, ``view_size`` rows each, then ``running_window`` running
  requests (prefills first, then long decodes, then short decodes, oldest first). Empty rows
  are all zero. The views (``QUEUE_VIEWS``) let a policy reach the requests its rule wants
  however long the queue is: the oldest (FIFO), the shortest inputs (SJF, priority), the
  latency-sensitive ones (LS first), the preempted ones (resume), the oldest short or long
  ones (class priority, reserved pools). A request may show in several views; any of its
  rows addresses it.

Output lengths are not observed: a real scheduler does not know them in advance.

Action: ``MultiDiscrete(ACTION_FIELDS)`` with one entry per field:

=============  =============================================================================
op             0 NOOP (let time run to the next decision), 1 START a queued request,
               2 PREEMPT a running one, 3 MIGRATE a decode to another instance
slot           row of the ``requests`` window the op applies to
instance       0 = auto (least-loaded feasible group, or least-loaded target for MIGRATE),
               i + 1 = group starts at instance i (START) / target instance i (MIGRATE)
sp             0 = auto (the degree the request's KV needs), n = group of n instances
decode         0 = colocated (decode where the prefill ran), 1 = auto (move to the instance
               with the most free KV), i + 2 = move the decode to instance i
mode           preemption: 0 none, 1 keep KV on GPU, 2 swap to host, 3 recompute.
               START: how prefills running on the target instances are preempted (0: the
               targets must be free). PREEMPT: where the KV goes (0 means keep).
=============  =============================================================================

Why this shape: it is the smallest factored space that expresses every baseline's decision
(which request, where, how wide, where the decode runs, whether and how to preempt), the
"auto" entries let a learner ignore placement details it does not need, and a factored
``MultiDiscrete`` keeps the policy head linear in the cluster size instead of the product of
choices. Per-dimension masks (``action_masks()``) rule out what is impossible in each field;
a combination that is still invalid is a no-op with a small penalty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

GLOBAL_FEATURES = (
    "time",  # simulated time, tanh(t / 600 s)
    "queued_short",  # queued short requests / queue window (clipped at 1)
    "queued_long",  # queued long requests / queue window (clipped at 1)
    "preempted",  # preempted requests / queue window (clipped at 1)
    "prefilling_instances",  # share of instances running a prefill
    "decoding_requests",  # decoding requests / (64 x instances), clipped
    "kv_used",  # share of the cluster's KV cache in use
    "progress",  # share of the episode's requests done
)
INSTANCE_FEATURES = (
    "prefill_busy",  # a prefill runs here
    "prefill_long",  # ... and it belongs to a long request
    "prefill_progress",  # share of that prefill done
    "prefill_remaining",  # its remaining work, log1p(s) / log1p(600 s)
    "decode_batch",  # decode batch size / 64, clipped
    "kv_used",  # share of this instance's KV cache in use
    "kv_held_paused",  # share of its KV cache held by preempted (kept) requests
)
REQUEST_FEATURES = (
    "present",  # the row holds a request
    "waiting",  # never started
    "preempted",  # paused; may be resumed
    "kept_on_gpu",  # preempted with its KV kept (must resume on its own group)
    "prefilling",
    "decoding",
    "long",  # input above the short/long threshold
    "latency_sensitive",
    "input_tokens",  # log1p(tokens) / log1p(1M)
    "waited",  # seconds since arrival, tanh(t / 30 s)
    "progress",  # prefill share done (prefilling) or 1 (decoding)
    "group_start",  # first instance of its group / instances
    "group_size",  # instances in its group / instances
    "sp_needed",  # instances its KV needs / instances
)

QUEUE_VIEWS = {
    "oldest": "queued requests, oldest first",
    "shortest": "queued requests, shortest prompt first (ties: oldest first)",
    "latency_sensitive": "queued latency-sensitive requests, oldest first",
    "preempted": "preempted requests, oldest first",
    "short": "queued short requests (input up to the threshold), oldest first",
    "long": "queued long requests, oldest first",
}
OP_NAMES = ("noop", "start", "preempt", "migrate")
MODE_NAMES = ("none", "keep", "swap", "recompute")
AUTO = 0
COLOCATE = 0


@dataclass(frozen=True)
class Layout:
    """Sizes of one env's observation and action."""

    num_instances: int
    view_size: int = 8
    queue_views: tuple[str, ...] = ("oldest", "shortest")
    running_window: int = 16

    def __post_init__(self) -> None:
        if self.view_size < 1 or self.running_window < 0:
            raise ValueError(
                f"view_size must be >= 1 and running_window >= 0, got "
                f"{self.view_size}, {self.running_window}"
            )
        unknown = [v for v in self.queue_views if v not in QUEUE_VIEWS]
        if unknown or not self.queue_views or len(set(self.queue_views)) != len(self.queue_views):
            raise ValueError(
                f"queue_views must be distinct names from {sorted(QUEUE_VIEWS)}, "
                f"got {self.queue_views!r}"
            )

    @property
    def queue_window(self) -> int:
        """Rows showing queued requests (all views)."""
        return self.view_size * len(self.queue_views)

    @property
    def window(self) -> int:
        return self.queue_window + self.running_window

    @property
    def action_nvec(self) -> np.ndarray:
        """Sizes of the action fields: op, slot, instance, sp, decode, mode."""
        i = self.num_instances
        return np.array(
            [len(OP_NAMES), self.window, i + 1, i + 1, i + 2, len(MODE_NAMES)], dtype=np.int64
        )

    def observation_space(self) -> spaces.Dict:
        def box(*shape: int) -> spaces.Box:
            return spaces.Box(0.0, 1.0, shape=shape, dtype=np.float32)

        return spaces.Dict(
            {
                "global": box(len(GLOBAL_FEATURES)),
                "instances": box(self.num_instances, len(INSTANCE_FEATURES)),
                "requests": box(self.window, len(REQUEST_FEATURES)),
            }
        )

    def action_space(self) -> spaces.MultiDiscrete:
        return spaces.MultiDiscrete(self.action_nvec)

    @property
    def mask_size(self) -> int:
        return int(self.action_nvec.sum())
