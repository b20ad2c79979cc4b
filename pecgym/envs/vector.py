"""``ClusterSchedVectorEnv``: N scheduling episodes in one NumPy state (native batching)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from pecgym.envs.core import SchedCore, WorkloadFn
from pecgym.envs.render import RENDER_MODES, check_render_mode, render
from pecgym.envs.scenarios import resolve_config
from pecgym.envs.single import step_info


class ClusterSchedVectorEnv(VectorEnv):
    """The batched env behind ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``.

    Configured like :class:`~pecgym.envs.single.ClusterSchedEnv`. Autoreset is same-step: an
    env whose episode ends returns the first observation of its next episode, with the last
    one in ``info["final_obs"]`` and its info (including ``episode_metrics``) in
    ``info["final_info"]``. ``reset(seed=s)`` seeds env ``i`` with ``s + i``, so env ``i``
    replays exactly what a single env seeded ``s + i`` does; later episodes draw their seeds
    from the training range. Rendering shows env 0.
    """

    metadata = {
        "render_modes": list(RENDER_MODES),
        "render_fps": 4,
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        scenario: str | None = None,
        *,
        render_mode: str | None = None,
        config: Any = None,
        workload_fn: WorkloadFn | None = None,
        **overrides: Any,
    ) -> None:
        self.num_envs = num_envs
        self.render_mode = check_render_mode(render_mode)
        self.config = resolve_config(scenario, config, overrides)
        self.core = SchedCore(
            num_envs,
            self.config,
            workload_fn=workload_fn,
            record_timeline=render_mode == "rgb_array",
        )
        self.single_observation_space = self.core.observation_space()
        self.single_action_space = spaces.Discrete(self.core.num_actions)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

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
        result = self.core.step(actions)
        observation = self.core.observe()
        infos: dict[str, Any] = {}
        done = np.flatnonzero(result.terminated | result.truncated)
        if done.size:
            for env in done:
                final = {key: value[env].copy() for key, value in observation.items()}
                final_info = {
                    "episode_metrics": self.core.episode_metrics(int(env)),
                    **step_info(self.core, result, int(env)),
                }
                infos = self._add_info(infos, {"final_obs": final, "final_info": final_info}, env)
            self.core.reset_envs(done.tolist(), [None] * done.size)
            observation = self.core.observe()
        infos.update(self._info())
        infos.update(step_info(self.core, result))
        return observation, result.reward, result.terminated, result.truncated, infos

    def action_masks(self) -> np.ndarray:
        """``(num_envs, num_actions)`` bool: the actions each env carries out now."""
        if self.core.sim is None:
            raise RuntimeError("call reset() before action_masks()")
        return self.core.action_masks()

    def render(self):
        return render(self.core, self.render_mode)

    def _info(self) -> dict[str, Any]:
        return {"action_mask": self.action_masks(), "sim_time": self.core.sim.read("clock").copy()}
