"""An SB3 ``VecEnv`` over the native batched env, so SB3 and MaskablePPO train on it directly.

Same-step autoreset in SB3's convention: a finished env's last observation is in
``info["terminal_observation"]``, truncation in ``info["TimeLimit.truncated"]``; episode
return and length in ``info["episode"]`` (as SB3's Monitor writes them) and the simulator's
summary in ``info["episode_metrics"]``. Every step's info says ``invalid_action``.
``env_method("action_masks")`` returns one mask per env.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from pecgym.envs.vector import ClusterSchedVectorEnv


class SB3VecEnv(VecEnv):
    """Adapter from :class:`ClusterSchedVectorEnv` to ``stable_baselines3``'s ``VecEnv``."""

    def __init__(self, env: ClusterSchedVectorEnv) -> None:
        self.env = env
        self.render_mode = env.render_mode
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None
        self._returns = np.zeros(env.num_envs)
        self._lengths = np.zeros(env.num_envs, dtype=np.int64)
        self._started = time.time()

    def reset(self):
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        observation, info = self.env.reset(seed=seeds)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{"action_mask": info["action_mask"][i]} for i in range(self.num_envs)]
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return observation

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self):
        observation, reward, terminated, truncated, info = self.env.step(self._actions)
        self._returns += reward
        self._lengths += 1
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [
            {"invalid_action": bool(flag)} for flag in info["invalid_action"]
        ]
        for i in np.flatnonzero(dones):
            final = info["final_info"]
            infos[i] |= {
                "terminal_observation": info["final_obs"][i],
                "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                "episode": {
                    "r": float(self._returns[i]),
                    "l": int(self._lengths[i]),
                    "t": round(time.time() - self._started, 6),
                },
                "episode_metrics": _unbatch(final["episode_metrics"], i),
            }
            self._returns[i] = 0.0
            self._lengths[i] = 0
        return observation, reward.astype(np.float32), dones, infos

    def action_masks(self) -> np.ndarray:
        """``(num_envs, num_actions)`` masks of the current observations."""
        return self.env.action_masks()

    def close(self) -> None:
        self.env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [self.env.render()] + [None] * (self.num_envs - 1)

    def _indices(self, indices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int | np.integer):
            return [int(indices)]
        return list(indices)

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        value = getattr(self.env, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs):
        if method_name == "action_masks":
            masks = self.env.action_masks()
            return [masks[i] for i in self._indices(indices)]
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._indices(indices)]


def _unbatch(batched: dict[str, Any], env: int) -> dict[str, Any]:
    """Env ``env``'s entries of a dict Gymnasium's ``_add_info`` batched (``key -> array``,
    with ``_key`` masks), as plain Python values."""
    return {
        key: value[env].item() if isinstance(value[env], np.generic) else value[env]
        for key, value in batched.items()
        if not key.startswith("_")
    }


def make_sb3_vec_env(env_id: str = "pecgym/ClusterSched-v1", num_envs: int = 8, **kwargs):
    """``SB3VecEnv`` over ``gymnasium.make_vec(env_id, num_envs, "vector_entry_point")``."""
    import gymnasium as gym

    vector = gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
    )
    return SB3VecEnv(vector.unwrapped if hasattr(vector, "unwrapped") else vector)
