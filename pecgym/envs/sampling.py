"""Uniformly random allowed actions, for a whole batch at once."""

from __future__ import annotations

from itertools import pairwise

import numpy as np


def sample_masked_actions(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random allowed action index per row of ``masks`` (``(N, num_actions)``
    bool); WAIT (0) where nothing is allowed."""
    masks = np.atleast_2d(masks)
    scores = np.where(masks, rng.random(masks.shape), -1.0)
    return scores.argmax(axis=1)


def sample_by_kind(masks: np.ndarray, bounds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per row of ``masks``, a uniformly random kind of decision among those with an allowed
    action (``bounds``: the start index of each kind's block, in order, then the size), then
    a uniformly random allowed action of that kind."""
    masks = np.atleast_2d(masks)
    n = masks.shape[0]
    kinds = np.stack([masks[:, lo:hi].any(axis=1) for lo, hi in pairwise(bounds)], axis=1)
    kind = np.where(kinds, rng.random(kinds.shape), -1.0).argmax(axis=1)
    lo, hi = bounds[kind], bounds[kind + 1]
    columns = np.arange(masks.shape[1])[None, :]
    inside = (columns >= lo[:, None]) & (columns < hi[:, None])
    scores = np.where(masks & inside, rng.random(masks.shape), -1.0)
    return np.where(kinds.any(axis=1), scores.argmax(axis=1), np.zeros(n, dtype=np.int64))
