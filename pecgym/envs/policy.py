"""The one policy interface of pecgym: batched observation and action masks in, actions out.

Every policy, a heuristic or a learned agent, is a :class:`Policy`. The rollout loop
(:func:`pecgym.benchmark.rollout.rollout`) and every caller (compare, evaluate, the
leaderboard, training callbacks, scripts) drive them the same way. A heuristic may also read
the simulator behind ``core`` (a :class:`~pecgym.envs.core.SchedCore`) and encode its
commands as actions; a learned agent reads only the observation and the masks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from pecgym.envs.core import SchedCore


@runtime_checkable
class Policy(Protocol):
    """A scheduling policy acting through the env's actions.

    ``act`` gets the batched observation dict (leading env axis), the ``(N, num_actions)``
    action masks and the env core, and returns ``(N,)`` action indices. A policy may also
    have:

    * ``bind(core)``: called once before each rollout (action layout, episode seeds);
    * ``env_overrides``: nested settings deep-merged onto the scenario's config for this
      policy (e.g. the observation layout an agent was trained with, or a cluster setting an
      ablation declares);
    * ``episode_stats(env) -> dict``: extra per-episode counts for the record (e.g. how many
      of a heuristic's commands had no action);
    * ``reads``: which of its inputs it reads, a subset of :data:`INPUTS` (default: all).
      The loop builds only those and passes an empty dict / ``None`` for the others: a
      heuristic reads neither (it reads the simulator), ``random`` only the masks.
    """

    name: str

    def act(
        self, observation: dict[str, np.ndarray], masks: np.ndarray, core: SchedCore
    ) -> np.ndarray:
        """``(N,)`` actions for the batch."""
        ...


INPUTS = frozenset({"observation", "masks"})
"""What the loop can hand a policy besides the core."""


def reads(policy: Any) -> frozenset[str]:
    """The inputs ``policy`` reads (its ``reads``, else all of :data:`INPUTS`)."""
    declared = getattr(policy, "reads", None)
    return INPUTS if declared is None else INPUTS & frozenset(declared)


def policy_env_overrides(policy: Any) -> dict:
    """The env settings a policy asks for (empty if it declares none)."""
    return dict(getattr(policy, "env_overrides", None) or {})
