"""Random: a uniformly random allowed action (what ``action_space.sample(mask=...)`` does),
a sanity floor.

An action-level policy: it never reads the simulator, only the env's action masks, like an
untrained agent (:func:`pecgym.envs.sampling.keyed_masked_actions`). Masks are exact, so
every action it takes is carried out. Pauses and migrations outnumber WAIT, so it commands
nearly every live request at every instant (about 95-120 steps per request), and pausing
at random shares the instances among requests, which on mean slowdown is a strong floor.
"""

from __future__ import annotations

import numpy as np

from pecgym.envs.core import SchedCore
from pecgym.envs.sampling import keyed_masked_actions


class RandomPolicy:
    """Masked uniform random actions. Env ``i``'s action at step ``t`` is a function of
    ``seed``, its episode's seed and ``t`` only, so an episode is the same alone or in any
    batch (:func:`~pecgym.envs.sampling.keyed_masked_actions`)."""

    name = "random"
    reads = frozenset({"masks"})

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def act(
        self, observation: dict[str, np.ndarray], masks: np.ndarray, core: SchedCore
    ) -> np.ndarray:
        keys = core.episode_seed.astype(np.uint64) + np.uint64(self.seed) * np.uint64(2**32)
        return keyed_masked_actions(masks, keys, core.steps)
