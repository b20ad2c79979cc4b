"""Policies that act through the env's actions, learned or heuristic, and a loop running them.

Every policy here has ``act(observation, masks, core) -> actions``: batched observations and
action masks in, one ``Discrete`` action index per env out. A learned agent reads only the
observation and masks; a heuristic reads the simulator behind ``core`` and encodes its
commands (:meth:`pecgym.envs.core.SchedCore.encode`). :func:`run_episodes` drives either one
on a single or a vector env and returns the episodes' metrics, so an evaluation compares them
the same way. Nothing here imports torch: a model is only asked to ``predict``.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import numpy as np

from pecgym.baselines.base import Policy as SimPolicy
from pecgym.envs.core import SchedCore


class EnvPolicy(Protocol):
    """A policy that acts on the env through its action space."""

    name: str

    def act(
        self, observation: dict[str, np.ndarray], masks: np.ndarray, core: SchedCore
    ) -> np.ndarray:
        """``(N,)`` actions for batched ``observation`` and ``(N, num_actions)`` ``masks``."""
        ...


class AgentPolicy:
    """A trained SB3 model (PPO or MaskablePPO) as an :class:`EnvPolicy`.

    ``use_masks`` defaults to whether the model's ``predict`` accepts ``action_masks``
    (MaskablePPO does); a plain PPO acts unmasked and its invalid actions are no-ops.
    Unbatched inputs (one env's observation and mask) give one action.
    """

    def __init__(
        self,
        model: Any,
        *,
        deterministic: bool = True,
        use_masks: bool | None = None,
        name: str | None = None,
    ) -> None:
        self.model = model
        self.deterministic = deterministic
        accepts_masks = "action_masks" in inspect.signature(model.predict).parameters
        if use_masks and not accepts_masks:
            raise ValueError(f"{type(model).__name__}.predict does not take action masks")
        self.use_masks = accepts_masks if use_masks is None else use_masks
        self.name = name or type(model).__name__.lower()

    def act(
        self,
        observation: dict[str, np.ndarray],
        masks: np.ndarray | None = None,
        core: SchedCore | None = None,
    ) -> np.ndarray:
        single = np.ndim(observation["global"]) == 1
        if single:
            observation = {key: value[None] for key, value in observation.items()}
            masks = None if masks is None else np.asarray(masks)[None]
        kwargs: dict[str, Any] = {"deterministic": self.deterministic}
        if self.use_masks:
            if masks is None:
                raise ValueError(f"{self.name} needs action masks")
            kwargs["action_masks"] = masks
        actions, _ = self.model.predict(observation, **kwargs)
        actions = np.asarray(actions, dtype=np.int64).reshape(len(observation["global"]))
        return actions[0] if single else actions


class HeuristicPolicy:
    """A simulator-level heuristic (e.g. :class:`pecgym.baselines.FIFOPolicy`) acting through
    env actions: it decides commands for the envs at a decision point and encodes them."""

    def __init__(self, policy: SimPolicy) -> None:
        self.policy = policy
        self.name = policy.name

    def act(
        self, observation: dict[str, np.ndarray], masks: np.ndarray, core: SchedCore
    ) -> np.ndarray:
        sim = core.sim
        deciding = np.flatnonzero(sim.at_decision & ~sim.finished)
        if not deciding.size:
            return np.zeros(core.num_envs, dtype=np.int64)
        return core.encode(self.policy.decide(sim, deciding))[0]


def _unbatch(batched: dict[str, Any], env: int) -> dict[str, Any]:
    """Env ``env``'s entries of an info dict a Gymnasium vector env batched."""
    return {
        key: value[env].item() if isinstance(value[env], np.generic) else value[env]
        for key, value in batched.items()
        if not key.startswith("_")
    }


def run_episodes(
    policy: EnvPolicy,
    env: Any,
    *,
    episodes: int = 1,
    seed: int | None = None,
    max_steps: int = 1_000_000,
) -> list[dict]:
    """Run ``policy`` on ``env`` (a pecgym single or vector env, wrapped or not) for
    ``episodes`` episodes; returns their ``episode_metrics`` (each with ``episode_seed``).

    With a vector env of N envs, env ``i`` plays episodes ``i, i + N, ...`` of the quota, so
    the set of episodes (their seeds) does not depend on how long each one takes. Metrics
    come ordered by env, then episode.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    base = env.unwrapped if hasattr(env, "unwrapped") else env
    core: SchedCore = base.core
    vector = hasattr(base, "num_envs") and hasattr(base, "single_action_space")
    n = core.num_envs
    quota = np.array([episodes // n + (i < episodes % n) for i in range(n)])
    found: list[list[dict]] = [[] for _ in range(n)]
    observation, info = env.reset(seed=seed)
    for _ in range(max_steps):
        actions = policy.act(observation, info["action_mask"], core)
        if vector:
            observation, _, terminated, truncated, info = env.step(actions)
            for i in np.flatnonzero(terminated | truncated):
                if len(found[i]) < quota[i]:
                    found[i].append(_unbatch(info["final_info"]["episode_metrics"], i))
        else:
            action = np.asarray(actions, dtype=np.int64).reshape(-1)[0]
            observation, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                # an outer TimeLimit ends episodes without the env's metrics: read them here
                found[0].append(info.get("episode_metrics") or core.episode_metrics(0))
                if len(found[0]) < quota[0]:
                    observation, info = env.reset()
        if all(len(f) >= q for f, q in zip(found, quota, strict=True)):
            return [metrics for per_env in found for metrics in per_env]
    raise RuntimeError(f"{policy.name}: {episodes} episodes did not end in {max_steps} steps")
