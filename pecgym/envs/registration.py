"""Env ids, registered on ``import pecgym``: a general env and a few named scenarios."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

NAMESPACE = "pecgym"
ENTRY_POINT = "pecgym.envs.single:ClusterSchedEnv"
VECTOR_ENTRY_POINT = "pecgym.envs.vector:ClusterSchedVectorEnv"

SCENARIOS: dict[str, dict] = {
    # General: configure everything by keyword arguments.
    "ClusterSched-v0": {},
    # Short conversation requests on a small, busy cluster: queueing vs batching.
    "ConvBusy-v0": {
        "num_instances": 4,
        "workload": {"source": "synthetic:conv", "num_requests": 256, "rate_scale": 4.0},
    },
    # PecSched's setting in small: 2% of inputs rescaled to 100K-500K tokens, SP groups.
    "LongMix-v0": {
        "num_instances": 16,
        "workload": {
            "source": "synthetic:conv",
            "num_requests": 256,
            "rate_scale": 4.0,
            "long_fraction": 0.02,
        },
    },
    # Bursty code-completion traffic.
    "CodeBursty-v0": {
        "num_instances": 8,
        "workload": {"source": "synthetic:code", "num_requests": 256, "rate_scale": 2.0},
    },
}


def register_envs() -> None:
    """Register every scenario as ``pecgym/<name>`` (idempotent)."""
    for name, kwargs in SCENARIOS.items():
        env_id = f"{NAMESPACE}/{name}"
        if env_id in registry:
            continue
        register(
            id=env_id,
            entry_point=ENTRY_POINT,
            vector_entry_point=VECTOR_ENTRY_POINT,
            kwargs=kwargs,
            disable_env_checker=False,
        )
