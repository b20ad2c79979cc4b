"""Gymnasium environments: single, native vector, SB3 adapter, and their registration."""

from pecgym.envs.core import RewardWeights, SchedCore
from pecgym.envs.layout import (
    GLOBAL_FEATURES,
    INSTANCE_FEATURES,
    MODE_NAMES,
    OP_NAMES,
    REQUEST_FEATURES,
    Layout,
)
from pecgym.envs.registration import SCENARIOS, register_envs
from pecgym.envs.single import ClusterSchedEnv
from pecgym.envs.vector import ClusterSchedVectorEnv

__all__ = [
    "GLOBAL_FEATURES",
    "INSTANCE_FEATURES",
    "MODE_NAMES",
    "OP_NAMES",
    "REQUEST_FEATURES",
    "SCENARIOS",
    "ClusterSchedEnv",
    "ClusterSchedVectorEnv",
    "Layout",
    "RewardWeights",
    "SchedCore",
    "register_envs",
]
