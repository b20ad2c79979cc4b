"""Rendering: the text view and the timeline picture, for the single and the vector env."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.envs import ClusterSchedEnv, ClusterSchedVectorEnv
from pecgym.envs.sampling import sample_masked_actions

ENV_ID = "pecgym/ConvBusy-v1"  # 4 instances
WORKLOAD = {"source": "synthetic:conv", "num_requests": 32, "rate_scale": 4.0}


def colored_pixels(image: np.ndarray) -> int:
    """Pixels of a saturated colour: the prefill/decode bars (axes and text are grey)."""
    wide = image.astype(np.int16)
    return int(((wide.max(axis=-1) - wide.min(axis=-1)) > 60).sum())


def play(env: gym.Env, steps: int, seed: int = 0) -> None:
    """Reset with ``seed`` and take ``steps`` masked random actions (no episode ends)."""
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    for _ in range(steps):
        action = int(sample_masked_actions(info["action_mask"], rng)[0])
        _, _, terminated, truncated, info = env.step(action)
        assert not (terminated or truncated)


def test_ansi_names_every_instance_and_the_queue() -> None:
    env = gym.make(ENV_ID, render_mode="ansi", workload=WORKLOAD)
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str)
    lines = text.splitlines()
    assert lines[0].startswith("t=") and "step=0" in lines[0]
    assert [line[:3] for line in lines[2:]] == ["i00", "i01", "i02", "i03"]
    queued = re.findall(r"r(\d+)\(", lines[1])
    assert queued, lines[1]
    assert len(queued) == len(set(queued))  # a request in several queue views shows once
    play(env, 40)
    text = env.render()
    assert "step=40" in text
    assert re.search(r"prefill r\d+|decode batch +[1-9]", text)  # something runs now


def test_rgb_array_is_an_image_with_bars_after_steps() -> None:
    env = gym.make(ENV_ID, render_mode="rgb_array", workload=WORKLOAD)
    env.reset(seed=0)
    before = env.render()
    assert before.dtype == np.uint8 and before.ndim == 3 and before.shape[2] == 3
    assert colored_pixels(before) == 0  # nothing has run yet
    play(env, 60)
    after = env.render()
    assert after.shape == before.shape and after.dtype == np.uint8
    assert colored_pixels(after) > 500


def test_no_render_mode_renders_nothing_and_bad_modes_fail() -> None:
    env = gym.make(ENV_ID, workload=WORKLOAD)
    env.reset(seed=0)
    assert env.render() is None
    with pytest.raises(ValueError, match="render_mode"):
        ClusterSchedEnv(render_mode="human")
    with pytest.raises(ValueError, match="render_mode"):
        ClusterSchedVectorEnv(2, render_mode="human")


def test_vector_env_renders_env_zero() -> None:
    vec = gym.make_vec(
        ENV_ID,
        num_envs=2,
        vectorization_mode="vector_entry_point",
        render_mode="ansi",
        workload=WORKLOAD,
    )
    single = gym.make(ENV_ID, render_mode="ansi", workload=WORKLOAD)
    _, info = vec.reset(seed=5)
    single.reset(seed=5)
    assert vec.render() == single.render()
    rng = np.random.default_rng(0)
    for _ in range(25):
        actions = sample_masked_actions(info["action_mask"], rng)
        _, _, _, _, info = vec.step(actions)
        single.step(actions[0])
    assert vec.render() == single.render()

    rgb = gym.make_vec(
        ENV_ID,
        num_envs=2,
        vectorization_mode="vector_entry_point",
        render_mode="rgb_array",
        workload=WORKLOAD,
    )
    _, info = rgb.reset(seed=5)
    for _ in range(60):
        actions = sample_masked_actions(info["action_mask"], rng)
        _, _, _, _, info = rgb.step(actions)
    image = rgb.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert colored_pixels(image) > 500
