"""Gymnasium environments: single, native vector, SB3 adapter, and their registration."""

from pecgym.envs.actions import ActionLayout
from pecgym.envs.config import EnvConfig, ObservationConfig, RewardConfig, SeedConfig
from pecgym.envs.core import SchedCore, episode_step_bound, step_bound
from pecgym.envs.observation import GLOBAL_FEATURES, INSTANCE_FEATURES, REQUEST_FEATURES
from pecgym.envs.registration import register_envs
from pecgym.envs.scenarios import SCENARIOS, ScenarioSpec, get_scenario
from pecgym.envs.single import ClusterSchedEnv
from pecgym.envs.vector import ClusterSchedVectorEnv

__all__ = [
    "GLOBAL_FEATURES",
    "INSTANCE_FEATURES",
    "REQUEST_FEATURES",
    "SCENARIOS",
    "ActionLayout",
    "ClusterSchedEnv",
    "ClusterSchedVectorEnv",
    "EnvConfig",
    "ObservationConfig",
    "RewardConfig",
    "ScenarioSpec",
    "SchedCore",
    "SeedConfig",
    "episode_step_bound",
    "get_scenario",
    "register_envs",
    "step_bound",
]
