"""The request rows of the observation: which request each row shows, and what it holds.

Rows are chosen for all envs at once. Each view ranks requests by one integer score per
(env, request), and a row set is the smallest scores: ``np.partition`` then a sort of the
few kept, with no per-request ranking.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from pecgym.sim.simulator import ClusterSim
from pecgym.sim.state import DECODING, KEEP, PREEMPTED, PREFILLING

NO_ROW = np.iinfo(np.int64).max


def smallest_into(slots: np.ndarray, score: np.ndarray, limit: int, start: int) -> None:
    """Fill ``slots`` (N, width) with the columns of the smallest ``score`` per row, in
    order; scores at or above ``limit`` are empty rows (-1). Column ``c`` of the window is
    request ``start + c``; a score must be ``rank * columns + c``."""
    width = min(slots.shape[1], score.shape[1])
    if not width:
        return
    columns = score.shape[1]
    if columns > width:
        score = np.partition(score, width - 1, axis=1)[:, :width]
    score = np.sort(score, axis=1)
    slots[:, :width] = np.where(score < limit, score % columns + start, -1)


def queue_view_score(sim: ClusterSim, view: str, queued: np.ndarray, win: slice) -> np.ndarray:
    """``(N, len(win))`` scores ranking the queued requests for ``view`` (see
    :data:`pecgym.envs.layout.QUEUE_VIEWS`); excluded requests score ``NO_ROW``."""
    columns = np.arange(win.stop - win.start)
    if view == "shortest":
        return np.where(queued, sim.read("prefill_len")[:, win] * columns.size + columns, NO_ROW)
    if view == "latency_sensitive":
        member = queued & sim.read("latency_sensitive")[:, win]
    elif view == "preempted":
        member = queued & (sim.read("state")[:, win] == PREEMPTED)
    elif view in ("short", "long"):
        member = queued & (sim.read("is_long")[:, win] == (view == "long"))
    else:  # oldest
        member = queued
    return np.where(member, columns, NO_ROW)


def running_score(sim: ClusterSim, win: slice) -> tuple[np.ndarray, int]:
    """Scores of running requests: prefills, then long decodes, then short decodes, oldest
    first within each; and the limit at which rows are empty."""
    state = sim.read("state")[:, win]
    columns = state.shape[1]
    rank = np.where(sim.read("is_long")[:, win], 1, 2)
    rank = np.where(state == DECODING, rank, np.where(state == PREFILLING, 0, 3))
    return rank * columns + np.arange(columns), 3 * columns


class RowView:
    """Per observation row ``(N, rows)``: the simulator state of the request it shows.

    Made after every change of the simulator's state (:meth:`SchedCore._refresh`); each
    field is gathered on first use and shared by the observation and the action masks
    (a heuristic's step uses none). Where ``present`` is False (an empty row) the other
    fields are meaningless (``state`` -1).
    """

    def __init__(self, sim: ClusterSim, slots: np.ndarray) -> None:
        self.sim, self.slots = sim, slots
        self.present = slots >= 0
        self._starts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @cached_property
    def flat(self) -> np.ndarray:
        """Flat (env, request) index of each row, for further gathers."""
        rows = np.arange(self.slots.shape[0])[:, None]
        return rows * self.sim.num_requests_max + np.maximum(self.slots, 0)

    def take(self, values: np.ndarray) -> np.ndarray:
        """``values`` (N, R) at each row's request."""
        return values.ravel()[self.flat].reshape(self.slots.shape)

    @cached_property
    def state(self) -> np.ndarray:
        return np.where(self.present, self.take(self.sim.read("state")), -1)

    @cached_property
    def mode(self) -> np.ndarray:
        """Preemption mode."""
        return self.take(self.sim.read("preempt_mode"))

    @cached_property
    def kept(self) -> np.ndarray:
        """Preempted with its KV kept on its group."""
        return (self.state == PREEMPTED) & (self.mode == KEEP)

    @cached_property
    def prefill_len(self) -> np.ndarray:
        return self.take(self.sim.read("prefill_len"))

    @cached_property
    def group_lo(self) -> np.ndarray:
        return self.take(self.sim.read("group_lo"))

    @cached_property
    def group_n(self) -> np.ndarray:
        return self.take(self.sim.read("group_n"))

    def ask(self, query) -> np.ndarray:
        """``query(env, req)`` (a simulator view of requests) for every row's request, as
        ``(N, rows)`` (empty rows ask about request 0)."""
        return np.asarray(query(*self._requests())).reshape(self.slots.shape)

    def _requests(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat ``(env, request)`` of every row (request 0 for empty rows)."""
        env = np.broadcast_to(np.arange(self.slots.shape[0])[:, None], self.slots.shape)
        return env.ravel(), np.maximum(self.slots, 0).ravel()

    def start_requirements(self, sim: ClusterSim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: :meth:`~pecgym.sim.simulator.ClusterSim.start_requirements` of its
        request (KV to place, group size, fixed group start), computed once per view."""
        if self._starts is None:
            parts = sim.start_requirements(*self._requests())
            self._starts = tuple(part.reshape(self.slots.shape) for part in parts)
        return self._starts


def queue_counts(sim: ClusterSim, queued: np.ndarray, win: slice):
    """Per env: queued requests, queued long ones, and queued preempted ones."""
    return (
        np.count_nonzero(queued, axis=1),
        np.count_nonzero(queued & sim.read("is_long")[:, win], axis=1),
        np.count_nonzero(queued & (sim.read("state")[:, win] == PREEMPTED), axis=1),
    )
