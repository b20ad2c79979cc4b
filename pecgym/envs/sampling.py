"""Uniformly random allowed actions, for a whole batch at once."""

from __future__ import annotations

import numpy as np


def sample_masked_actions(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random allowed action index per row of ``masks`` (``(N, num_actions)``
    bool); WAIT (0) where nothing is allowed."""
    masks = np.atleast_2d(masks)
    scores = np.where(masks, rng.random(masks.shape), -1.0)
    return scores.argmax(axis=1)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective scramble of 64-bit integers (wrapping)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def keyed_uniforms(keys: np.ndarray, counters: np.ndarray, width: int) -> np.ndarray:
    """``(N, width)`` uniforms in [0, 1), row ``i`` a function of ``keys[i]`` and
    ``counters[i]`` only: a row's numbers do not depend on the other rows of the batch."""
    with np.errstate(over="ignore"):
        base = _mix(np.asarray(keys, np.uint64) * _GOLDEN + np.asarray(counters, np.uint64))
        columns = (np.arange(width, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
        bits = _mix(base[:, None] ^ columns[None, :])
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def keyed_masked_actions(masks: np.ndarray, keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """Like :func:`sample_masked_actions`, with row ``i``'s draw a function of ``keys[i]``
    and ``counters[i]`` only (an episode's actions are the same in any batch)."""
    masks = np.atleast_2d(masks)
    scores = np.where(masks, keyed_uniforms(keys, counters, masks.shape[1]), -1.0)
    return scores.argmax(axis=1)
