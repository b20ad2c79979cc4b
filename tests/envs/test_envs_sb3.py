"""The SB3 ``VecEnv`` adapter: VecEnv semantics, action masks, and MaskablePPO training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

import gymnasium as gym

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.envs.sampling import sample_masked_actions
from pecgym.envs.sb3 import SB3VecEnv, make_sb3_vec_env

ENV_ID = "pecgym/ConvBusy-v1"
SMALL = {"source": "synthetic:conv", "num_requests": 10, "rate_scale": 4.0}


def step(adapter: SB3VecEnv, actions: np.ndarray):
    adapter.step_async(actions)
    return adapter.step_wait()


def masked(adapter: SB3VecEnv, rng: np.random.Generator) -> np.ndarray:
    return sample_masked_actions(adapter.action_masks(), rng)


def test_reset_and_step_are_batched() -> None:
    n = 3
    adapter = make_sb3_vec_env(ENV_ID, n, workload=SMALL)
    assert isinstance(adapter, SB3VecEnv) and adapter.num_envs == n
    obs = adapter.reset()
    assert set(obs) == {"global", "instances", "requests"}
    for key, space in adapter.observation_space.spaces.items():
        assert obs[key].shape == (n, *space.shape)
        assert obs[key].dtype == np.float32
    assert len(adapter.reset_infos) == n
    assert all(
        info["action_mask"].shape == (adapter.action_masks().shape[1],)
        for info in adapter.reset_infos
    )
    obs, reward, dones, infos = step(adapter, masked(adapter, np.random.default_rng(0)))
    assert reward.shape == (n,) and reward.dtype == np.float32
    assert dones.shape == (n,) and dones.dtype == bool
    assert isinstance(infos, list) and len(infos) == n and all(isinstance(i, dict) for i in infos)
    assert all(obs[key].shape[0] == n for key in obs)


def test_seed_then_reset_seeds_env_i_with_seed_plus_i() -> None:
    adapter = make_sb3_vec_env(ENV_ID, 2, workload=SMALL)
    adapter.seed(21)
    obs = adapter.reset()
    for i in range(2):
        single = gym.make(ENV_ID, workload=SMALL)
        s_obs, _ = single.reset(seed=21 + i)
        for key in s_obs:
            np.testing.assert_array_equal(obs[key][i], s_obs[key])


def run_until_done(adapter: SB3VecEnv, steps: int, rng: np.random.Generator | None):
    """Step with masked random actions (``rng`` None: always WAIT); per env, the rewards of
    its current episode and the infos of every finished episode (with the summed rewards
    it reported)."""
    running = [[] for _ in range(adapter.num_envs)]
    finished: list[tuple[int, dict, float, int]] = []
    for _ in range(steps):
        actions = (
            np.zeros(adapter.num_envs, dtype=np.int64) if rng is None else masked(adapter, rng)
        )
        _, reward, dones, infos = step(adapter, actions)
        for i in range(adapter.num_envs):
            running[i].append(float(reward[i]))
            if dones[i]:
                finished.append(
                    (i, infos[i], float(np.sum(running[i], dtype=np.float32)), len(running[i]))
                )
                running[i] = []
            else:
                assert "terminal_observation" not in infos[i]
    return finished


def test_episode_end_infos_terminated() -> None:
    adapter = make_sb3_vec_env(ENV_ID, 2, workload=SMALL)
    adapter.seed(0)
    adapter.reset()
    finished = run_until_done(adapter, 3000, np.random.default_rng(0))
    assert len(finished) >= 2
    for _, info, total, length in finished:
        terminal = info["terminal_observation"]
        assert terminal in adapter.observation_space
        assert terminal["global"][-1] == 1.0  # progress: every request done
        assert info["TimeLimit.truncated"] is False
        assert info["episode"]["l"] == length
        assert info["episode"]["r"] == pytest.approx(total, rel=1e-5, abs=1e-5)
        assert info["episode"]["r"] < 0
        metrics = info["episode_metrics"]
        assert metrics["requests"] == metrics["completed"] == SMALL["num_requests"]
        assert metrics["steps"] == length
        assert isinstance(metrics["ttft.p50"], float) and metrics["ttft.p50"] > 0


def test_episode_end_infos_truncated() -> None:
    """A policy that only waits is truncated at the horizon (last arrival + drain time)."""
    adapter = make_sb3_vec_env(ENV_ID, 2, workload=SMALL, cluster={"drain_time": 2.0})
    adapter.reset()
    finished = run_until_done(adapter, 40, None)
    assert len(finished) >= 2
    for _, info, _, length in finished:
        assert info["TimeLimit.truncated"] is True
        assert info["episode"]["l"] == length == info["episode_metrics"]["steps"]
        metrics = info["episode_metrics"]
        assert metrics["completed"] == 0 and metrics["truncated"]
        assert info["episode"]["r"] == pytest.approx(-metrics["objective"], rel=1e-5)


def test_masks_through_env_method_and_sb3_contrib() -> None:
    from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported

    n = 3
    adapter = make_sb3_vec_env(ENV_ID, n, workload=SMALL)
    adapter.reset()
    step(adapter, masked(adapter, np.random.default_rng(0)))
    masks = adapter.env_method("action_masks")
    assert len(masks) == n
    expected = adapter.env.action_masks()
    for i in range(n):
        np.testing.assert_array_equal(masks[i], expected[i])
    assert len(adapter.env_method("action_masks", indices=[2])) == 1
    assert is_masking_supported(adapter)
    stacked = get_action_masks(adapter)
    assert stacked.shape == (n, adapter.action_space.n)
    np.testing.assert_array_equal(stacked, expected)


def test_maskable_ppo_trains_and_logs_to_tensorboard(tmp_path: Path) -> None:
    import torch
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks

    torch.set_num_threads(1)
    workload = {"source": "synthetic:conv", "num_requests": 64, "rate_scale": 4.0}
    adapter = make_sb3_vec_env(ENV_ID, 4, workload=workload)
    model = MaskablePPO(
        "MultiInputPolicy",
        adapter,
        n_steps=64,
        batch_size=64,
        n_epochs=4,
        seed=0,
        tensorboard_log=str(tmp_path),
        verbose=0,
    )
    model.learn(total_timesteps=2048)
    assert model.num_timesteps >= 2048
    events = list(tmp_path.rglob("events.out.tfevents.*"))
    assert events and all(path.stat().st_size > 0 for path in events)

    obs = adapter.reset()
    masks = get_action_masks(adapter)
    actions, _ = model.predict(obs, action_masks=masks, deterministic=True)
    assert actions.shape == (4,)
    assert masks[np.arange(4), actions].all()  # every chosen action is allowed
    _, _, _, infos = step(adapter, actions)
    assert len(infos) == 4


def test_maskable_ppo_sampling_never_picks_an_invalid_action() -> None:
    """An untrained MaskablePPO samples (stochastically) only what the masks allow."""
    import torch
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks

    torch.set_num_threads(1)
    adapter = make_sb3_vec_env(ENV_ID, 4, workload={"num_requests": 24})
    model = MaskablePPO("MultiInputPolicy", adapter, n_steps=64, seed=1, verbose=0)
    obs = adapter.reset()
    kinds = set()
    for _ in range(600):
        masks = get_action_masks(adapter)
        actions, _ = model.predict(obs, action_masks=masks, deterministic=False)
        assert masks[np.arange(4), actions].all()
        kinds |= set(adapter.env.core.layout.split(actions)[0].tolist())
        obs, _, _, infos = step(adapter, actions)
        assert not any(info["invalid_action"] for info in infos)
    assert kinds == {0, 1, 2, 3}  # waits, starts, pauses and migrations were all sampled
