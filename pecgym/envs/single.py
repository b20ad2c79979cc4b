"""``ClusterSchedEnv``: one scheduling episode as a Gymnasium env (the core with N = 1)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from pecgym.envs.core import SchedCore
from pecgym.envs.render import render_rgb, render_text


class ClusterSchedEnv(gym.Env):
    """Schedule LLM-inference requests on a simulated GPU cluster.

    Keyword arguments configure the cluster, workload, windows and reward (see
    :class:`pecgym.envs.core.SchedCore`). Spaces are documented in :mod:`pecgym.envs.layout`.
    ``info`` carries ``action_mask`` every step and ``episode_metrics`` at the end.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.render_mode = render_mode
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
        if self.core.sim is None or self.render_mode is None:
            return None
        if self.render_mode == "ansi":
            return render_text(self.core, 0)
        return render_rgb(self.core)

    def _observe(self) -> dict[str, np.ndarray]:
        return {key: value[0] for key, value in self.core.observe().items()}

    def _info(self) -> dict[str, Any]:
        self._masks = self.core.action_masks()[0]
        return {"action_mask": self._masks, "sim_time": float(self.core.sim.clock[0])}
