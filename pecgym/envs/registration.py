"""Env ids, registered on ``import pecgym``: one per scenario (:mod:`pecgym.envs.scenarios`).

Each id's ``kwargs`` only name the scenario, so ``gym.make(id, workload={...})`` deep-merges
the given settings onto the scenario's instead of replacing whole sections.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from pecgym.envs.scenarios import NAMESPACE, SCENARIOS

ENTRY_POINT = "pecgym.envs.single:ClusterSchedEnv"
VECTOR_ENTRY_POINT = "pecgym.envs.vector:ClusterSchedVectorEnv"


def register_envs() -> None:
    """Register every scenario as ``pecgym/<name>`` (idempotent)."""
    for name, spec in SCENARIOS.items():
        if spec.env_id in registry:
            continue
        register(
            id=spec.env_id,
            entry_point=ENTRY_POINT,
            vector_entry_point=VECTOR_ENTRY_POINT,
            kwargs={"scenario": name},
            disable_env_checker=False,
        )


__all__ = ["NAMESPACE", "SCENARIOS", "register_envs"]
