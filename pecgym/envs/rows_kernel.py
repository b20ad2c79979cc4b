"""The observation's row choice compiled with numba (see :mod:`pecgym.envs.rows`).

:func:`choose_rows` fills the same rows as the NumPy path: every view ranks its requests by
the same unique integer scores, so sorting them picks the same requests in the same order
(``tests/sim/test_sim_kernel.py`` compares both at every step of whole episodes).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from pecgym.envs.config import ObservationConfig
from pecgym.sim.simulator import ClusterSim
from pecgym.sim.state import DECODING, PREEMPTED, PREFILLING

VIEW_CODES = ("oldest", "shortest", "latency_sensitive", "preempted", "short", "long")
"""The queue views, numbered by their index here."""
_OLDEST, _SHORTEST, _LATENCY_SENSITIVE, _PREEMPTED, _SHORT, _LONG = range(len(VIEW_CODES))
_READS = ("state", "prefill_len", "latency_sensitive", "is_long", "next_arrival")


def choose_rows_compiled(
    sim: ClusterSim,
    view: ObservationConfig,
    win: slice,
    queued: np.ndarray,
    queue_slots: np.ndarray,
    run_slots: np.ndarray,
) -> None:
    """Fill the rows of ``view`` (see :func:`choose_rows`); ``queued`` is ``sim.queued(win)``."""
    arrays = (sim.read(name) for name in _READS)
    views = _view_codes(view.queue_views)
    choose_rows(queue_slots, run_slots, views, view.view_size, win.start, queued, *arrays)


@functools.cache
def _view_codes(names: tuple[str, ...]) -> np.ndarray:
    return np.array([VIEW_CODES.index(name) for name in names])


@njit(cache=True)
def choose_rows(queue_slots, run_slots, views, view_size, start, queued, state, prefill_len,
                latency_sensitive, is_long, next_arrival):  # fmt: skip
    """Fill ``queue_slots`` (N, views x view_size) and ``run_slots`` (N, window) with the
    requests each row shows (-1: none); ``queued`` is the window's queued mask and column
    ``c`` of it is request ``start + c``."""
    num_envs, columns = queued.shape
    waiting = np.empty(columns, np.int64)
    scores = np.empty(columns, np.int64)
    for e in range(num_envs):
        stop = min(next_arrival[e] - start, columns)  # later requests have not arrived
        num_waiting = 0
        for c in range(stop):
            if queued[e, c]:
                waiting[num_waiting] = c
                num_waiting += 1
        for k in range(views.size):
            view = views[k]
            count = 0
            for q in range(num_waiting):
                c = waiting[q]
                r = start + c
                if view == _SHORTEST:
                    scores[count] = prefill_len[e, r] * columns + c
                elif (
                    view == _OLDEST
                    or (view == _LATENCY_SENSITIVE and latency_sensitive[e, r])
                    or (view == _PREEMPTED and state[e, r] == PREEMPTED)
                    or (view == _SHORT and not is_long[e, r])
                    or (view == _LONG and is_long[e, r])
                ):
                    scores[count] = c
                else:
                    continue
                count += 1
            _fill(queue_slots[e, k * view_size : (k + 1) * view_size], scores, count, columns,
                  start)  # fmt: skip
        if run_slots.shape[1]:
            count = 0
            for c in range(stop):
                s = state[e, start + c]
                if s == PREFILLING:
                    rank = 0
                elif s == DECODING:
                    rank = 1 if is_long[e, start + c] else 2
                else:
                    continue
                scores[count] = rank * columns + c
                count += 1
            _fill(run_slots[e], scores, count, columns, start)


@njit(cache=True)
def _fill(slots, scores, count, columns, start):
    """``slots`` from the ``count`` smallest scores, in order, then -1."""
    chosen = np.sort(scores[:count])
    for j in range(slots.size):
        slots[j] = chosen[j] % columns + start if j < count else -1
