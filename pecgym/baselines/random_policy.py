"""Random: a uniformly random allowed action (what ``action_space.sample(mask=...)`` does),
a sanity floor.

An action-level policy: it never reads the simulator, only the env's action masks, like an
untrained agent (:func:`pecgym.envs.sampling.sample_masked_actions`). Masks are exact, so
every action it takes is carried out. Pauses and migrations outnumber WAIT, so it commands
nearly every live request at every instant (about 95-120 steps per request), and pausing
at random shares the instances among requests, which on mean slowdown is a strong floor.
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

    def act(
        self, observation: dict[str, np.ndarray], masks: np.ndarray, core: SchedCore
    ) -> np.ndarray:
        return sample_masked_actions(masks, self.rng)
