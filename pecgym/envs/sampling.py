"""Uniformly random allowed actions, for a whole batch at once."""

from __future__ import annotations

import numpy as np


def sample_masked_actions(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random allowed action index per row of ``masks`` (``(N, num_actions)``
    bool); WAIT (0) where nothing is allowed."""
    masks = np.atleast_2d(masks)
    scores = np.where(masks, rng.random(masks.shape), -1.0)
    return scores.argmax(axis=1)
