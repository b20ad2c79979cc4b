"""Building blocks shared by the heuristic policies, vectorized over the deciding envs.

A heuristic reads the simulator and answers one :class:`Commands` row per deciding env. The
helpers here find the oldest queued request of a class, place a request on a group of
instances (optionally restricted to a pool, preferring some instances), and collect commands
stage by stage: each stage only fills the envs no earlier stage has decided.
"""

from __future__ import annotations

import numpy as np

from pecgym.sim.groups import group_members
from pecgym.sim.placement import best_group
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import DECODING, KEEP, PREEMPTED, PREFILLING, Op

HEURISTIC_ENV: dict = {
    "observation": {
        "queue_views": ("oldest", "shortest", "short", "long", "latency_sensitive", "preempted"),
        "view_size": 32,
        "running_window": 128,
    }
}
"""Env layout the heuristics act through: every queue view a rule needs (FIFO reads the
oldest, SJF the shortest, class priorities the oldest short / long, QLLM the LS view, resumes
the preempted view), deep enough that the request a rule picks is on view behind paused
ones, and a running window wide enough for every prefill and long decode of a 64-instance
cluster. The harness counts commands that still miss the view (``unencodable``)."""

_START, _PREEMPT = int(Op.START), int(Op.PREEMPT)


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
        self.state = sim.read("state")[envs, win]
        self.queued = sim.queued(win)[envs]
        self.is_long = sim.read("is_long")[envs, win]
        self.ls = sim.read("latency_sensitive")[envs, win]
        self.kept = (self.state == PREEMPTED) & (sim.read("preempt_mode")[envs, win] == KEEP)
        self.prefill_req = sim.read("prefill_req")[envs]
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
            lo, n = self.sim.read("group_lo")[env, req], self.sim.read("group_n")[env, req]
            members = group_members(lo, n, out.shape[1])
            np.logical_or.at(out, row, members)
        return out

    def long_decodes(self) -> np.ndarray:
        """Window mask of running long decodes."""
        return (self.state == DECODING) & self.is_long

    def long_prefills(self) -> np.ndarray:
        """Window mask of running long prefills."""
        return (self.state == PREFILLING) & self.is_long


place = best_group
"""Where each queued request can start now (:func:`pecgym.sim.placement.best_group`)."""


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
