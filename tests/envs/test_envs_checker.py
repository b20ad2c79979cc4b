"""Every registered pecgym env passes Gymnasium's and Stable-Baselines3's env checkers."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from gymnasium.envs.registration import registry
from gymnasium.utils.env_checker import check_env as gym_check_env

import pecgym
from pecgym.envs import ClusterSchedEnv
from pecgym.envs.scenarios import NAMESPACE, SCENARIOS

ENV_IDS = sorted(f"{NAMESPACE}/{name}" for name in SCENARIOS)
SMALL = {"workload": {"num_requests": 24}}  # the checkers step a few episodes


def test_every_scenario_is_registered_and_nothing_else() -> None:
    registered = sorted(env_id for env_id in registry if env_id.startswith(f"{NAMESPACE}/"))
    assert registered == ENV_IDS
    assert len(ENV_IDS) >= 5 and all(env_id.endswith("-v1") for env_id in ENV_IDS)
    pecgym.envs.register_envs()  # idempotent: registering again neither fails nor duplicates
    assert sorted(e for e in registry if e.startswith(f"{NAMESPACE}/")) == ENV_IDS


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_env_checker_passes_silently(env_id: str) -> None:
    env = gym.make(env_id, **SMALL)
    assert isinstance(env.unwrapped, ClusterSchedEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a failure
        gym_check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_env_checker_passes(env_id: str) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, **SMALL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env.unwrapped, warn=True)
    # The 2-D "instances" and "requests" boxes are reported as unconventional shapes; that
    # is expected (MultiInputPolicy flattens them). Anything else is a real complaint.
    other = [str(w.message) for w in caught if "unconventional shape" not in str(w.message)]
    assert other == []
    env.close()


@pytest.mark.parametrize("render_mode", ["ansi", "rgb_array"])
def test_gymnasium_checker_with_rendering(render_mode: str) -> None:
    env = gym.make(
        "pecgym/ConvBusy-v1",
        render_mode=render_mode,
        workload={"source": "synthetic:conv", "num_requests": 16, "rate_scale": 4.0},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=False)
    env.close()
