"""``ClusterSchedEnv``: one scheduling episode as a Gymnasium env (the core with N = 1)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pecgym.envs.core import SchedCore, WorkloadFn
from pecgym.envs.render import RENDER_MODES, check_render_mode, render
from pecgym.envs.scenarios import resolve_config


def step_info(core: SchedCore, result, env: int | None = None) -> dict[str, Any]:
    """The per-step info entries: reward breakdown, invalid flag and reject code (of env
    ``env``, or batched when ``env`` is None)."""
    pick = (lambda a: a) if env is None else (lambda a: a[env].item())
    return {
        "reward_breakdown": {k: pick(v) for k, v in result.breakdown.items()},
        "invalid_action": pick(result.invalid),
        "reject_reason": pick(result.reject),
    }


class ClusterSchedEnv(gym.Env):
    """Schedule LLM-inference requests on a simulated GPU cluster.

    ``scenario`` names a registered scenario (``"ConvBusy-v1"``; the ids' ``kwargs``);
    ``config`` (an :class:`~pecgym.envs.config.EnvConfig` or nested dict) and keyword
    ``overrides`` (``cluster={...}``, ``workload={...}``, ``reward={...}``,
    ``observation={...}``, ``seeds={...}``) are deep-merged on top of it.
    ``workload_fn(seed) -> Workload`` replaces the configured workload (an injected
    generator). Spaces: :mod:`pecgym.envs.observation` and :mod:`pecgym.envs.actions`.
    ``info`` carries ``action_mask``, ``sim_time`` and ``reward_breakdown`` every step and
    ``episode_metrics`` at the end.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 4}

    def __init__(
        self,
        scenario: str | None = None,
        *,
        render_mode: str | None = None,
        config: Any = None,
        workload_fn: WorkloadFn | None = None,
        **overrides: Any,
    ) -> None:
        self.render_mode = check_render_mode(render_mode)
        self.config = resolve_config(scenario, config, overrides)
        self.core = SchedCore(
            1, self.config, workload_fn=workload_fn, record_timeline=render_mode == "rgb_array"
        )
        self.observation_space = self.core.observation_space()
        self.action_space = spaces.Discrete(self.core.num_actions)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.core.reset_envs([0], [seed])
        return self._observe(), self._info()

    def step(self, action):
        if self.core.sim is None:
            raise RuntimeError("call reset() before step()")
        array = np.asarray(action)
        if array.shape != () or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"action must be one integer in [0, {self.core.num_actions}) (a Discrete "
                f"index), got {array.dtype} of shape {array.shape}: {action!r}"
            )
        result = self.core.step(array.reshape(1))
        info = self._info()
        info.update(step_info(self.core, result, 0))
        terminated, truncated = bool(result.terminated[0]), bool(result.truncated[0])
        if terminated or truncated:
            info["episode_metrics"] = self.core.episode_metrics(0)
        return self._observe(), float(result.reward[0]), terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """``(num_actions,)`` bool: the actions the env carries out now (for MaskablePPO)."""
        if self.core.sim is None:
            raise RuntimeError("call reset() before action_masks()")
        return self.core.action_masks()[0]

    def render(self):
        return render(self.core, self.render_mode)

    def _observe(self) -> dict[str, np.ndarray]:
        return {key: value[0] for key, value in self.core.observe().items()}

    def _info(self) -> dict[str, Any]:
        return {
            "action_mask": self.action_masks(),
            "sim_time": float(self.core.sim.read("clock")[0]),
        }
