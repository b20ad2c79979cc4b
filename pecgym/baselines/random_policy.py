"""Random: a uniformly random allowed value in every action field (masked), a sanity floor.

An action-level policy: it never reads the simulator, only the env's per-field action masks
(:func:`pecgym.envs.sampling.sample_masked_actions`), like an untrained agent. A combination
of allowed fields can still be invalid (the env then does nothing for that step).
"""

from __future__ import annotations

import numpy as np

from pecgym.baselines.common import HEURISTIC_ENV
from pecgym.envs.core import SchedCore
from pecgym.envs.sampling import sample_masked_actions


class RandomPolicy:
    """Masked uniform random actions, seeded by ``seed`` and the episodes' seeds."""

    name = "random"
    env_kwargs = HEURISTIC_ENV

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.nvec: np.ndarray | None = None
        self.rng = np.random.default_rng(seed)

    def bind(self, core: SchedCore) -> None:
        """Read the action sizes of ``core`` and reseed from its episodes' seeds."""
        self.nvec = core.layout.action_nvec
        self.rng = np.random.default_rng([self.seed, *core.episode_seed.tolist()])

    def act(self, obs: dict[str, np.ndarray], masks: np.ndarray) -> np.ndarray:
        if self.nvec is None:
            raise RuntimeError("RandomPolicy.act needs bind(core) first")
        return sample_masked_actions(masks, self.nvec, self.rng)
