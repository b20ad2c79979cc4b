"""The base of the heuristic policies: rules that read the simulator and emit env actions.

A :class:`Heuristic` decides simulator :class:`~pecgym.sim.simulator.Commands` for the
envs at a decision point (:meth:`Heuristic.decide`) and acts like any other
:class:`~pecgym.envs.policy.Policy`: :meth:`Heuristic.act` encodes the commands as the env's
actions (:meth:`pecgym.envs.core.SchedCore.encode`), so the env validates and applies them
exactly as it does an agent's. A command no action expresses (the request is off the
observation's view) becomes a WAIT and is counted (``unencodable`` in the episode record).
"""

from __future__ import annotations

import numpy as np

from pecgym.envs.core import SchedCore
from pecgym.envs.policy import Policy, policy_env_overrides
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import OP_NOOP


class Heuristic:
    """A rule-based policy: subclasses set ``name`` and implement :meth:`decide`."""

    name: str = "heuristic"
    reads = frozenset()
    """A rule reads the simulator, neither the observation nor the masks."""
    env_overrides: dict = {}
    """Settings the rule acts through (see :data:`pecgym.baselines.common.HEURISTIC_ENV`)."""

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        """One command for each of ``envs`` (indices of envs at a decision point)."""
        raise NotImplementedError

    lost: np.ndarray | None = None
    """Per env, whether the last :meth:`act` had a command no action expresses (a WAIT
    stands in for it)."""

    def bind(self, core: SchedCore) -> None:
        """Start counting unencodable commands for the envs of ``core``."""
        self._unencodable = np.zeros(core.num_envs, dtype=np.int64)

    def act(
        self, observation: dict[str, np.ndarray], masks: np.ndarray, core: SchedCore
    ) -> np.ndarray:
        """The env actions of :meth:`decide`'s commands (WAIT for envs not deciding)."""
        sim = core.sim
        if getattr(self, "_unencodable", None) is None or len(self._unencodable) != core.num_envs:
            self.bind(core)
        self.lost = np.zeros(core.num_envs, dtype=bool)
        deciding = np.flatnonzero(sim.read("at_decision") & ~sim.read("finished"))
        if not deciding.size:
            return np.zeros(core.num_envs, dtype=np.int64)
        commands = self.decide(sim, deciding)
        actions, encoded = core.encode(commands)
        lost = commands.env[~encoded & (commands.op != OP_NOOP)]
        self.lost[lost] = True
        np.add.at(self._unencodable, lost, 1)
        return actions

    def episode_stats(self, env: int) -> dict[str, int]:
        """Commands of env ``env`` that no action expressed since :meth:`bind`."""
        counts = getattr(self, "_unencodable", None)
        return {"unencodable": 0 if counts is None else int(counts[env])}


__all__ = ["Heuristic", "Policy", "policy_env_overrides"]
