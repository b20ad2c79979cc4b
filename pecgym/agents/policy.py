"""A trained SB3 model as a :class:`~pecgym.envs.policy.Policy`.

The model reads only the observation and the action masks. It carries the env settings it
was trained on (``pecgym_meta``, saved inside its zip by :mod:`pecgym.agents.training`), and
asks for its observation layout on every scenario it runs on (``env_overrides``); a scenario
whose observation or action space differs from the one it learned is refused with an error
naming both. Nothing here imports torch: the model is only asked to ``predict``.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from pecgym.envs.core import SchedCore


class AgentPolicy:
    """An SB3 model (MaskablePPO or PPO) acting through the env's actions.

    ``use_masks`` defaults to whether ``predict`` takes ``action_masks`` (MaskablePPO);
    an unmasked PPO's invalid actions are penalised WAITs.
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
        self.meta: dict[str, Any] = dict(getattr(model, "pecgym_meta", None) or {})
        self.name = name or self.meta.get("name") or type(model).__name__.lower()

    @property
    def env_overrides(self) -> dict[str, Any]:
        """The observation layout the model was trained with (if it recorded it)."""
        observation = (self.meta.get("env_config") or {}).get("observation")
        return {"observation": observation} if observation else {}

    def bind(self, core: SchedCore) -> None:
        """Check that ``core``'s spaces are the ones the model learned on."""
        learned = _shapes(self.model.observation_space), int(self.model.action_space.n)
        found = _shapes(core.observation_space()), core.num_actions
        if learned != found:
            raise ValueError(
                f"agent {self.name!r} was trained on observation {learned[0]} and "
                f"{learned[1]} actions, but this scenario has observation {found[0]} and "
                f"{found[1]} actions; evaluate it with the cluster size and observation "
                "layout it was trained on"
            )

    def act(
        self,
        observation: dict[str, np.ndarray],
        masks: np.ndarray | None = None,
        core: SchedCore | None = None,
    ) -> np.ndarray:
        """Actions for a batch (or one action for one env's unbatched observation)."""
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


def _shapes(space: Any) -> dict[str, tuple[int, ...]]:
    return {key: tuple(sub.shape) for key, sub in space.spaces.items()}
