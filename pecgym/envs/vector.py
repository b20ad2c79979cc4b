"""``ClusterSchedVectorEnv``: N scheduling episodes in one NumPy state (native batching)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from pecgym.envs.core import SchedCore
from pecgym.envs.render import RENDER_MODES, check_render_mode, render


class ClusterSchedVectorEnv(VectorEnv):
    """The batched env behind ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``.

    Autoreset is same-step: an env whose episode ends returns the first observation of its
    next episode, with the last one in ``info["final_obs"]`` and its info (including
    ``episode_metrics``) in ``info["final_info"]``. ``reset(seed=s)`` seeds env ``i`` with
    ``s + i``, so env ``i`` replays exactly what a single env seeded ``s + i`` does.
    Rendering shows env 0.
    """

    metadata = {
        "render_modes": list(RENDER_MODES),
        "render_fps": 4,
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **kwargs: Any) -> None:
        self.num_envs = num_envs
        self.render_mode = check_render_mode(render_mode)
        self.core = SchedCore(num_envs, record_timeline=render_mode == "rgb_array", **kwargs)
        self.single_observation_space = self.core.layout.observation_space()
        self.single_action_space = self.core.layout.action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._masks: np.ndarray | None = None

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, int | np.integer):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"reset got {len(seeds)} seeds for {self.num_envs} envs")
        super().reset(seed=seeds[0])
        self.core.reset_envs(range(self.num_envs), seeds)
        return self.core.observe(), self._info()

    def step(self, actions):
        if self.core.sim is None:
            raise RuntimeError("call reset() before step()")
        reward, terminated, truncated, invalid, reject = self.core.step(actions)
        observation = self.core.observe()
        infos: dict[str, Any] = {}
        done = np.flatnonzero(terminated | truncated)
        if done.size:
            for env in done:
                final = {key: value[env].copy() for key, value in observation.items()}
                final_info = {
                    "episode_metrics": self.core.episode_metrics(int(env)),
                    "invalid_action": bool(invalid[env]),
                }
                infos = self._add_info(infos, {"final_obs": final, "final_info": final_info}, env)
            self.core.reset_envs(done.tolist(), [None] * done.size)
            observation = self.core.observe()
        infos.update(self._info())
        infos.update(invalid_action=invalid, reject_reason=reject)
        return observation, reward, terminated, truncated, infos

    def action_masks(self) -> np.ndarray:
        """``(num_envs, sum(nvec))`` allowed values of each action field (for MaskablePPO)."""
        if self._masks is None:
            raise RuntimeError("call reset() before action_masks()")
        return self._masks

    def render(self):
        return render(self.core, self.render_mode)

    def _info(self) -> dict[str, Any]:
        self._masks = self.core.action_masks()
        return {"action_mask": self._masks, "sim_time": self.core.sim.clock.copy()}
