"""Random actions that respect the per-field action masks, for a whole batch at once."""

from __future__ import annotations

from itertools import pairwise

import numpy as np


def sample_masked_actions(
    masks: np.ndarray, nvec: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One uniformly random allowed value per action field, for each row of ``masks``.

    ``masks`` is ``(N, sum(nvec))`` (fields concatenated, as ``action_masks()`` returns);
    the result is ``(N, len(nvec))``. A field with no allowed value gets 0.
    """
    masks = np.atleast_2d(masks)
    scores = np.where(masks, rng.random(masks.shape), -1.0)
    bounds = np.concatenate(([0], np.cumsum(nvec)))
    return np.stack(
        [scores[:, lo:hi].argmax(axis=1) for lo, hi in pairwise(bounds)],
        axis=1,
    )
