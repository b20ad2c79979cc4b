"""Random: a random allowed action (masked), a sanity floor.

An action-level policy: it never reads the simulator, only the env's action masks, like an
untrained agent. Each step it picks a kind of decision uniformly among those allowed (wait,
start, preempt, migrate), then an allowed action of that kind uniformly
(:func:`pecgym.envs.sampling.sample_by_kind`): uniform over all allowed actions would
almost never wait, since pauses and migrations outnumber waiting a hundredfold. Masks are
exact, so every action it takes is carried out.
"""

from __future__ import annotations

import numpy as np

from pecgym.envs.core import SchedCore
from pecgym.envs.sampling import sample_by_kind


class RandomPolicy:
    """Masked uniform random actions, seeded by ``seed`` and the episodes' seeds."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.bounds: np.ndarray | None = None

    def bind(self, core: SchedCore) -> None:
        """Reseed from the episodes' seeds of ``core`` (same seeds, same actions)."""
        self.rng = np.random.default_rng([self.seed, *core.episode_seed.tolist()])
        self.bounds = core.layout.kind_bounds

    def act(self, obs: dict[str, np.ndarray], masks: np.ndarray) -> np.ndarray:
        if self.bounds is None:
            raise RuntimeError("RandomPolicy.act needs bind(core) first")
        return sample_by_kind(masks, self.bounds, self.rng)
