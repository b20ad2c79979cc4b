"""Vectorized operations on instance groups: contiguous ranges ``[lo, lo + n)`` per env.

A request runs on a group of instances (several = sequence parallelism). Sums over the
requests covering each instance are one ``bincount`` over (env, instance) cells, with no
loop over requests or envs.
"""

from __future__ import annotations

import functools

import numpy as np


def nonzero2d(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D mask (rows, columns), about 3x faster for small masks."""
    flat = np.flatnonzero(mask)
    rows = flat // mask.shape[1]
    return rows, flat - rows * mask.shape[1]


def group_cells(
    env: np.ndarray, lo: np.ndarray, n: np.ndarray, num_instances: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """The flat ``(env, instance)`` cells the groups cover, item by item in order, and the
    item of each cell (``None`` when every group is one instance: one cell per item)."""
    first_cell = env * num_instances + lo
    if not (n.size and n.max() > 1):
        return None, first_cell
    item, offset = nonzero2d(np.arange(num_instances) < n[:, None])
    return item, first_cell[item] + offset


class GroupIndex:
    """Items (requests) on instance groups, ready for repeated per-instance sums.

    Each item is expanded once into the instances it covers; a sum is then one
    ``bincount`` over those cells. Every instance adds its items' weights in item order,
    so an env's sums do not depend on which other envs are in the batch.
    """

    def __init__(
        self, env: np.ndarray, lo: np.ndarray, n: np.ndarray, num_envs: int, num_instances: int
    ) -> None:
        self.env, self.lo, self.n = env, lo, n
        self.shape = (num_envs, num_instances)
        self._item, self._cells = group_cells(env, lo, n, num_instances)

    def sum(self, weights: np.ndarray | float) -> np.ndarray:
        """``(E, I)`` sums: each item adds its weight to every instance of its group."""
        if np.ndim(weights) == 0:
            weights = np.full(self.env.size, float(weights))
        if self._item is not None:
            weights = weights[self._item]
        size = self.shape[0] * self.shape[1]
        return np.bincount(self._cells, weights, minlength=size).reshape(self.shape)

    def sums(self, *weights: np.ndarray | float) -> np.ndarray:
        """Several weight channels at once: an array of shape ``(len(weights), E, I)``."""
        return np.stack([self.sum(w) for w in weights])


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


@functools.cache
def _membership_table(num_instances: int) -> np.ndarray:
    """``table[lo, n]``: the membership row of group ``[lo, lo + n)`` (cut at the end)."""
    cols = np.arange(num_instances)
    lo = cols[:, None, None]
    n = np.arange(num_instances + 1)[None, :, None]
    table = (cols >= lo) & (cols < lo + n)
    table.flags.writeable = False
    return table


def group_members(lo: np.ndarray, n: np.ndarray, num_instances: int) -> np.ndarray:
    """Boolean membership matrix of shape ``(len(lo), num_instances)``.

    Groups must lie in range: ``0 <= lo < num_instances`` and ``0 <= n <= num_instances``.
    """
    return _membership_table(num_instances)[lo, n]


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
