"""Random: a uniformly random allowed action (masked), a sanity floor.

An action-level policy: it never reads the simulator, only the env's action masks
(:func:`pecgym.envs.sampling.sample_masked_actions`), like an untrained agent. Masks are
exact, so every action it takes is carried out.
"""

from __future__ import annotations

import numpy as np

from pecgym.envs.core import SchedCore
from pecgym.envs.sampling import sample_masked_actions


class RandomPolicy:
    """Masked uniform random actions, seeded by ``seed`` and the episodes' seeds."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def bind(self, core: SchedCore) -> None:
        """Reseed from the episodes' seeds of ``core`` (same seeds, same actions)."""
        self.rng = np.random.default_rng([self.seed, *core.episode_seed.tolist()])

    def act(self, obs: dict[str, np.ndarray], masks: np.ndarray) -> np.ndarray:
        return sample_masked_actions(masks, self.rng)
