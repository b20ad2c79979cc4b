"""Vectorized operations on instance groups: contiguous ranges ``[lo, lo + n)`` per env.

A request runs on a group of instances (several = sequence parallelism). Groups are
contiguous, so sums over the requests covering each instance are difference arrays
(one ``bincount`` and a ``cumsum``), with no loop over requests or envs.
"""

from __future__ import annotations

import numpy as np


def nonzero2d(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D mask (rows, columns), about 3x faster for small masks."""
    flat = np.flatnonzero(mask)
    rows = flat // mask.shape[1]
    return rows, flat - rows * mask.shape[1]


class GroupIndex:
    """Items (requests) on instance groups, ready for repeated per-instance sums."""

    def __init__(
        self, env: np.ndarray, lo: np.ndarray, n: np.ndarray, num_envs: int, num_instances: int
    ) -> None:
        width = num_instances + 1
        base = env * width
        self.env, self.lo, self.n = env, lo, n
        self.shape = (num_envs, num_instances)
        self._index = np.concatenate((base + lo, base + lo + n))
        self._length = num_envs * width

    def sums(self, *weights: np.ndarray | float) -> np.ndarray:
        """Several weight channels at once: an array of shape ``(len(weights), E, I)``."""
        num_envs, num_instances = self.shape
        channels = len(weights)
        w = np.empty((channels, self.env.size))
        for row, values in enumerate(weights):
            w[row] = values
        offsets = (np.arange(channels) * self._length)[:, None]
        index = (self._index[None, :] + offsets).ravel()
        totals = np.bincount(
            index, np.concatenate((w, -w), axis=1).ravel(), minlength=channels * self._length
        )
        totals = totals.reshape(channels, num_envs, num_instances + 1)[:, :, :num_instances]
        return np.cumsum(totals, axis=2)

    def sum(self, weights: np.ndarray | float) -> np.ndarray:
        """``(E, I)`` sums: each item adds its weight to every instance of its group."""
        num_envs, num_instances = self.shape
        if np.ndim(weights) == 0:
            w = np.full(self.env.size, float(weights))
        else:
            w = np.asarray(weights, dtype=np.float64)
        totals = np.bincount(self._index, np.concatenate((w, -w)), minlength=self._length)
        return np.cumsum(totals.reshape(num_envs, num_instances + 1)[:, :num_instances], axis=1)


def group_sum(
    env: np.ndarray,
    lo: np.ndarray,
    n: np.ndarray,
    weights: np.ndarray | float,
    num_envs: int,
    num_instances: int,
) -> np.ndarray:
    """Per-instance sums: each item adds ``weights`` to every instance of its group.

    Returns an array of shape ``(num_envs, num_instances)``.
    """
    return GroupIndex(env, lo, n, num_envs, num_instances).sum(weights)


def group_members(lo: np.ndarray, n: np.ndarray, num_instances: int) -> np.ndarray:
    """Boolean membership matrix of shape ``(len(lo), num_instances)``."""
    cols = np.arange(num_instances)
    return (cols >= lo[:, None]) & (cols < (lo + n)[:, None])


def group_max(values: np.ndarray, env: np.ndarray, lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Max of ``values[env, i]`` over each item's group (``values`` is ``(E, I)``)."""
    out = values[env, lo]
    multi = np.flatnonzero(n > 1)
    if multi.size:
        members = group_members(lo[multi], n[multi], values.shape[1])
        out[multi] = np.where(members, values[env[multi]], -np.inf).max(axis=1)
    return out


def group_min(values: np.ndarray, env: np.ndarray, lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Min of ``values[env, i]`` over each item's group (``values`` is ``(E, I)``)."""
    return -group_max(-values, env, lo, n)


def window_all(flags: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Which groups of size ``k[e]`` starting at each instance have ``flags`` all true.

    ``flags`` is ``(E, I)`` bool and ``k`` is ``(E,)``; returns ``(E, I)`` bool where entry
    ``[e, lo]`` says whether instances ``lo .. lo + k[e] - 1`` all exist and are flagged.
    """
    num_envs, num_instances = flags.shape
    counts = np.zeros((num_envs, num_instances + 1), dtype=np.int64)
    np.cumsum(flags, axis=1, out=counts[:, 1:])
    lo = np.arange(num_instances)
    hi = lo[None, :] + k[:, None]
    inside = hi <= num_instances
    hi = np.minimum(hi, num_instances)
    rows = np.arange(num_envs)[:, None]
    return inside & (counts[rows, hi] - counts[rows, lo[None, :]] == k[:, None])


def window_sum(values: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Sum of ``values[e, lo .. lo + k[e] - 1]`` for every start ``lo`` (0 past the end)."""
    num_envs, num_instances = values.shape
    sums = np.zeros((num_envs, num_instances + 1))
    np.cumsum(values, axis=1, out=sums[:, 1:])
    lo = np.arange(num_instances)
    hi = np.minimum(lo[None, :] + k[:, None], num_instances)
    rows = np.arange(num_envs)[:, None]
    return sums[rows, hi] - sums[rows, lo[None, :]]
