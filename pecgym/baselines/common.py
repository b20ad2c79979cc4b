"""Building blocks shared by the heuristic policies, vectorized over the deciding envs.

A heuristic reads the simulator and answers one :class:`Commands` row per deciding env. The
helpers here find the oldest queued request of a class, place a request on a group of
instances (optionally restricted to a pool, preferring some instances), and collect commands
stage by stage: each stage only fills the envs no earlier stage has decided.
"""

from __future__ import annotations

import numpy as np

from pecgym.sim.groups import group_members, window_all, window_sum
from pecgym.sim.placement import start_requirements
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import DECODING, KEEP, PREEMPTED, PREFILLING, RECOMPUTE, Op

HEURISTIC_ENV: dict = {
    "queue_views": ("oldest", "shortest", "short", "long", "latency_sensitive", "preempted"),
    "view_size": 32,
    "running_window": 128,
}
"""Env layout the heuristics act through: every queue view a rule needs (FIFO reads the
oldest, SJF the shortest, class priorities the oldest short / long, QLLM the LS view, resumes
the preempted view), deep enough that the request a rule picks is on view behind paused
ones, and a running window wide enough for every prefill and long decode of a 64-instance
cluster. The harness counts commands that still miss the view (``unencodable``)."""

_START, _PREEMPT = int(Op.START), int(Op.PREEMPT)
_PENALTY = 1e12
"""Added to a placement score to make an instance a last resort (KV used is < 1e9 tokens)."""


def first_true(mask: np.ndarray, start: int = 0) -> np.ndarray:
    """Per row, ``start`` + the column of the first true entry (-1 for an all-false row)."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1) + start, -1)


class Snapshot:
    """What the rules read about the deciding envs ``envs``: one row per deciding env.

    Per-request arrays cover the simulator's live window ``win``: column ``c`` is request
    ``start + c``.
    """

    def __init__(self, sim: ClusterSim, envs: np.ndarray) -> None:
        self.sim, self.envs = sim, envs
        self.win = win = sim.window()
        self.start = win.start
        self.state = sim.state[envs, win]
        self.queued = sim.queued(win)[envs]
        self.is_long = sim.is_long[envs, win]
        self.ls = sim.latency_sensitive[envs, win]
        self.kept = (self.state == PREEMPTED) & (sim.preempt_mode[envs, win] == KEEP)
        self.prefill_req = sim.prefill_req[envs]
        self.busy = self.prefill_req >= 0

    def oldest(self, mask: np.ndarray) -> np.ndarray:
        """Oldest queued request per env among ``mask`` (window columns), -1 if none."""
        return first_true(self.queued & mask, self.start)

    def cover(self, mask: np.ndarray) -> np.ndarray:
        """``(envs, I)``: instances in the group of some request of ``mask`` (window columns)."""
        row, col = np.nonzero(mask)
        out = np.zeros(self.prefill_req.shape, dtype=bool)
        if row.size:
            req = col + self.start
            env = self.envs[row]
            members = group_members(
                self.sim.group_lo[env, req], self.sim.group_n[env, req], out.shape[1]
            )
            np.logical_or.at(out, row, members)
        return out

    def long_decodes(self) -> np.ndarray:
        """Window mask of running long decodes."""
        return (self.state == DECODING) & self.is_long

    def long_prefills(self) -> np.ndarray:
        """Window mask of running long prefills."""
        return (self.state == PREFILLING) & self.is_long


def place(
    sim: ClusterSim,
    envs: np.ndarray,
    req: np.ndarray,
    *,
    allowed: np.ndarray | None = None,
    busy_ok: np.ndarray | None = None,
    avoid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Where each queued ``req`` (one per env of ``envs``) can start now: ``(lo, n)``.

    A group of the size the request's KV needs (its own group if it was preempted with its
    KV kept) whose instances all have room for its KV, are in ``allowed`` and run no prefill
    (unless ``busy_ok`` there, which the START must then preempt; a decode resuming in place
    needs no prefill slot). Among feasible groups the one with the least KV in use wins;
    instances in ``avoid`` count as nearly full. ``lo`` is -1 where nothing fits, and for a
    negative ``req`` (no candidate).
    """
    given = req >= 0
    if not given.any():
        return np.full(envs.size, -1), np.ones(envs.size, dtype=np.int64)
    req = np.maximum(req, 0)
    need, k, fixed = start_requirements(sim, envs, req)
    resume_decode = (
        (sim.state[envs, req] == PREEMPTED)
        & sim.resume_decode[envs, req]
        & (sim.preempt_mode[envs, req] != RECOMPUTE)
    )
    flags = sim.kv_free()[envs] >= (need / k)[:, None] - 1e-9
    idle = sim.prefill_free()[envs] | resume_decode[:, None]
    if busy_ok is not None:
        idle = idle | busy_ok
    flags &= idle
    if allowed is not None:
        flags &= allowed
    feasible = window_all(flags, k)
    load = sim.kv_used()[envs]
    if avoid is not None:
        load = load + _PENALTY * avoid
    score = np.where(feasible, window_sum(load, k), np.inf)
    lo = np.where(feasible.any(axis=1), score.argmin(axis=1), -1)
    rows = np.arange(envs.size)
    own = feasible[rows, np.maximum(fixed, 0)]
    lo = np.where(fixed >= 0, np.where(own, fixed, -1), lo)
    return np.where(given, lo, -1), k


class CommandBuilder:
    """Collects at most one command per deciding env, stage by stage (first stage wins)."""

    def __init__(self, sim: ClusterSim, envs: np.ndarray) -> None:
        self.envs = envs
        self.commands = Commands.empty(sim.num_envs)
        self.decided = np.zeros(envs.size, dtype=bool)

    @property
    def open(self) -> np.ndarray:
        """Rows (positions in ``envs``) still without a command."""
        return ~self.decided

    @property
    def complete(self) -> bool:
        """True when every deciding env has a command (later stages can be skipped)."""
        return bool(self.decided.all())

    def start(
        self,
        rows: np.ndarray,
        req: np.ndarray,
        lo: np.ndarray,
        n: np.ndarray,
        *,
        decode_to: np.ndarray | int = -1,
        mode: np.ndarray | int = 0,
    ) -> None:
        """START ``req`` on ``[lo, lo + n)`` where ``rows`` (bool over envs) is set and open."""
        self._put(rows, _START, req, lo=lo, n=n, decode_to=decode_to, mode=mode)

    def preempt(self, rows: np.ndarray, req: np.ndarray, mode: int = KEEP) -> None:
        """PREEMPT ``req`` (KV kept by default) where ``rows`` is set and open."""
        self._put(rows, _PREEMPT, req, mode=mode)

    def _put(self, rows, op, req, **fields) -> None:
        rows = rows & ~self.decided
        if not rows.any():
            return
        env = self.envs[rows]
        c = self.commands
        c.op[env] = op
        c.req[env] = req[rows]
        for name, value in fields.items():
            getattr(c, name)[env] = np.broadcast_to(value, rows.shape)[rows]
        self.decided |= rows

    def result(self) -> Commands:
        """The commands of the deciding envs (NOOP where no stage decided)."""
        return self.commands.select(self.envs)


__all__ = ["HEURISTIC_ENV", "CommandBuilder", "Snapshot", "first_true", "place"]
