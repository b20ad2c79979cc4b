"""``ClusterSchedEnv``: one scheduling episode as a Gymnasium env (the core with N = 1)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from pecgym.envs.core import SchedCore
from pecgym.envs.render import RENDER_MODES, check_render_mode, render


class ClusterSchedEnv(gym.Env):
    """Schedule LLM-inference requests on a simulated GPU cluster.

    Keyword arguments configure the cluster, workload, windows and reward (see
    :class:`pecgym.envs.core.SchedCore`). Spaces are documented in :mod:`pecgym.envs.layout`.
    ``info`` carries ``action_mask`` every step and ``episode_metrics`` at the end.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 4}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        self.render_mode = check_render_mode(render_mode)
        self.core = SchedCore(1, record_timeline=render_mode == "rgb_array", **kwargs)
        self.observation_space = self.core.layout.observation_space()
        self.action_space = self.core.layout.action_space()
        self._masks: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.core.reset_envs([0], [seed])
        return self._observe(), self._info()

    def step(self, action):
        if self.core.sim is None:
            raise RuntimeError("call reset() before step()")
        reward, terminated, truncated, invalid, reject = self.core.step(
            np.asarray(action, dtype=np.int64)[None, :]
        )
        observation = self._observe()  # first: it refreshes the windows the mask refers to
        info = self._info()
        info.update(invalid_action=bool(invalid[0]), reject_reason=int(reject[0]))
        if terminated[0] or truncated[0]:
            info["episode_metrics"] = self.core.episode_metrics(0)
        return observation, float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def action_masks(self) -> np.ndarray:
        """Allowed values of each action field, concatenated (for MaskablePPO)."""
        if self._masks is None:
            raise RuntimeError("call reset() before action_masks()")
        return self._masks

    def render(self):
        return render(self.core, self.render_mode)

    def _observe(self) -> dict[str, np.ndarray]:
        return {key: value[0] for key, value in self.core.observe().items()}

    def _info(self) -> dict[str, Any]:
        self._masks = self.core.action_masks()[0]
        return {"action_mask": self._masks, "sim_time": float(self.core.sim.clock[0])}
