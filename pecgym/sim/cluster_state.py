"""The simulator's state: its arrays (declared in :mod:`pecgym.sim.fields`), loading a
workload into an env, and read-only views (queue, KV usage, instance load).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from collections.abc import Sequence

import numpy as np

from pecgym.sim.config import ClusterConfig, ConfigError
from pecgym.sim.fields import FIELD_BY_NAME, FIELDS
from pecgym.sim.groups import (
    GroupIndex,
    group_sum,
    nonzero2d,
)
from pecgym.sim.state import (
    DECODING,
    KEEP,
    PREEMPTED,
    SWAP,
    WAITING,
    ReqState,
)
from pecgym.traces.workload import Workload

EPS = 1e-9
"""Relative tolerance of event times."""
ROOM_TOLERANCE = EPS
"""KV tokens a request's share may exceed an instance's free room by (float rounding)."""


KERNELS = ("auto", "numba", "numpy")
"""How the simulator runs its hot path (the event clock, START commands, and the env's row
choice and action codec): compiled with numba, or NumPy calls. ``auto`` (unless the
environment variable ``PECGYM_KERNEL`` names another) starts with NumPy and switches to
numba, if it is installed, once it has run :data:`COMPILE_AFTER_EVENTS` events (summed over
the envs) or expects to (about two per request loaded: its arrival and its completion), so
that short runs do not pay numba's start-up (about 0.5 s). Both give the same results bit
for bit."""
KERNEL_VARIABLE = "PECGYM_KERNEL"
COMPILE_AFTER_EVENTS = 2000
MAX_EVENTS_WITHOUT_PROGRESS = 10_000
"""Events in a row in which no env's clock moves before the clock gives up (a bug)."""


@functools.cache
def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def choose_kernel(kernel: str) -> str:
    """``kernel`` (one of :data:`KERNELS`) resolved against ``PECGYM_KERNEL`` and what is
    installed: ``auto`` only when numba is there to switch to."""
    if kernel not in KERNELS:
        raise ConfigError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    if kernel == "auto":
        kernel = os.environ.get(KERNEL_VARIABLE, "auto")
        if kernel not in KERNELS:
            raise ConfigError(
                f"{KERNEL_VARIABLE} must be one of {', '.join(KERNELS)}, got {kernel!r}"
            )
    has_numba = _numba_installed()
    if kernel == "auto":
        return "auto" if has_numba else "numpy"
    if kernel == "numba" and not has_numba:
        raise ConfigError("kernel 'numba' needs numba installed (pip install numba)")
    return kernel


class ClusterState:
    """E independent clusters of ``config.num_instances`` instances, each with a workload:
    the state arrays and views of them."""

    def __init__(
        self, config: ClusterConfig, workloads: Sequence[Workload], kernel: str = "auto"
    ) -> None:
        if not workloads:
            raise ConfigError("ClusterSim needs at least one workload (one per env)")
        self.kernel = choose_kernel(kernel)
        self.events_run = 0  # events of all envs since construction (for the auto kernel)
        self.events_planned = 0  # events the workloads loaded bring, about
        self.config = config
        self.cost = config.cost_model
        self.num_envs = len(workloads)
        self.num_instances = config.num_instances
        self.kv_capacity = float(config.kv_capacity)
        self._solo_chunk_time = float(self.cost.iteration_time(config.chunk_tokens, 0, 0))
        self._allocate(max(len(w) for w in workloads))
        for env, workload in enumerate(workloads):
            self.load(env, workload)

    def runs_compiled(self) -> bool:
        """Whether the hot path runs compiled now: the simulator's ``kernel`` choice (see
        :data:`KERNELS`), except that a recorded timeline needs the NumPy path."""
        if self.timeline is not None or self.kernel == "numpy":
            return False
        events = max(self.events_run, self.events_planned)
        return self.kernel == "numba" or events >= COMPILE_AFTER_EVENTS

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
        self._kernel_cache = None  # the compiled clock's arguments name the old arrays
        self._start_cache = None  # and so do the compiled START commands'
        self._read_views: dict[str, np.ndarray] = {}

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
        self.events_planned += 2 * n
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
        # per distinct prompt length (traces repeat them), then per request
        tokens, index = np.unique(workload.input_tokens, return_inverse=True)
        sizes = np.arange(1, self.num_instances + 1)[None, :]
        work = self.solo_prefill_time(tokens[:, None].astype(np.float64), sizes)[index.reshape(-1)]
        self.prompt_prefill_work[env, :n] = work
        self.jct_alone[env, :n] = self._jct_alone(workload, work)
        if self.timeline is not None and env == self.timeline_env:
            self.timeline.clear()
        self.horizon_at[env] = self._horizon(workload)
        self.num_requests[env] = n
        self.finished[env] = n == 0
        self._kv_views = None
        self._queued_memo = None

    def solo_prefill_time(self, tokens: np.ndarray, sp: np.ndarray) -> np.ndarray:
        """Seconds to prefill ``tokens`` (float) alone on a group of ``sp`` instances (both
        arrays of one shape, or broadcasting): one pass, or in chunks on one instance with
        ``chunked_prefill``."""
        work = self.cost.prefill_time_unchecked(tokens, sp, self.config.sp_method)
        if self.config.chunked_prefill:
            tokens, sp = np.broadcast_arrays(tokens, sp)
            work = np.where(sp == 1, self.cost.chunked_prefill_time(tokens), work)
        return work

    def _jct_alone(self, workload: Workload, prefill_work: np.ndarray) -> np.ndarray:
        """Per request, its JCT alone on an idle cluster: the prefill on the group its KV
        needs (``prefill_work``: per request and group size), then one decode iteration per
        later token at the mean context (the decode step is affine in the context, so this
        is the exact sum)."""
        inputs, outputs = workload.input_tokens, workload.output_tokens
        k = self.sp_degree_for(inputs)
        prefill = prefill_work[np.arange(len(workload)), k - 1]
        context = (inputs + (outputs + 1) / 2.0) / k
        ones = np.ones(len(workload), dtype=np.int64)
        step = self.cost.step_time(np.zeros_like(ones), ones, context)
        return np.maximum(prefill + np.maximum(outputs - 1, 0) * step, EPS)

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

    # ---------------------------------------------------------------------- read API
    def read(self, name: str) -> np.ndarray:
        """A read-only view of the state field ``name`` (a readable field of
        :data:`~pecgym.sim.fields.FIELDS`, e.g. ``sim.read("state")[envs, window]``).

        Envs, policies and metrics outside the simulator read its state this way, or
        through its views (:meth:`queued`, :meth:`kv_free`, :meth:`instance_load`,
        ``start_requirements``, ...); they never write it.
        """
        view = self._read_views.get(name)
        if view is None:
            field = FIELD_BY_NAME.get(name)
            if field is None or not field.readable:
                readable = ", ".join(f.name for f in FIELDS if f.readable)
                raise KeyError(f"no readable simulator field {name!r}; readable: {readable}")
            view = getattr(self, name).view()
            view.flags.writeable = False
            self._read_views[name] = view
        return view

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
        need = np.ceil(np.asarray(tokens) / self.sp_tokens_per_instance()).astype(np.int64)
        return np.minimum(np.maximum(need, 1), self.num_instances)

    def sp_tokens_per_instance(self) -> float:
        """KV tokens per instance of an SP group (:meth:`sp_degree_for`)."""
        return float(min(self.config.sp_tokens_per_instance, self.kv_capacity))

    @property
    def done(self) -> bool:
        """True when every env has finished its episode."""
        return bool(self.finished.all())

    def state_counts(self, env: int) -> dict[str, int]:
        """Requests per lifecycle state in one env."""
        n = int(self.num_requests[env])
        counts = np.bincount(self.state[env, :n], minlength=len(ReqState))
        return {s.name.lower(): int(counts[s]) for s in ReqState}
