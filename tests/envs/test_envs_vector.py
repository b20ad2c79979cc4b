"""The native vector env: registration, equivalence with single envs, masks, bad actions."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.envs import ClusterSchedVectorEnv
from pecgym.envs.layout import Layout
from pecgym.envs.sampling import sample_masked_actions

ENV_ID = "pecgym/ConvBusy-v0"
SMALL = {"source": "synthetic:conv", "num_requests": 10, "rate_scale": 4.0}
FIELDS = ("op", "slot", "instance", "sp", "decode", "mode")


def masked_actions(rng: np.random.Generator, masks: np.ndarray, nvec: np.ndarray) -> np.ndarray:
    """``(N, len(nvec))`` actions: each field uniform over its allowed values."""
    return sample_masked_actions(masks, nvec, rng).astype(np.int64)


def make_vector(num_envs: int, **kwargs) -> ClusterSchedVectorEnv:
    env = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(env, ClusterSchedVectorEnv)
    return env


def assert_same_metrics(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), key
        else:
            assert x == y, key


def assert_same_obs(batched: dict, env: int, single: dict) -> None:
    for key, value in single.items():
        np.testing.assert_array_equal(batched[key][env], value, err_msg=key)


@pytest.mark.parametrize("env_id", ["pecgym/ClusterSched-v0", "pecgym/LongMix-v0"])
def test_make_vec_returns_native_vector_env(env_id: str) -> None:
    env = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    assert type(env) is ClusterSchedVectorEnv
    assert env.num_envs == 3
    single = gym.make(env_id)
    assert env.single_observation_space == single.observation_space
    assert env.single_action_space == single.action_space
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space
    assert env.action_space.shape == (3, 6)


def test_vector_env_matches_single_envs_across_autoresets() -> None:
    """Env i of ``reset(seed=s)`` replays a single env seeded ``s + i``, autoresets included."""
    n, seed, steps = 3, 100, 320
    vec = make_vector(n, workload=SMALL)
    singles = [gym.make(ENV_ID, workload=SMALL) for _ in range(n)]
    nvec = vec.single_action_space.nvec
    rng = np.random.default_rng(0)

    obs, info = vec.reset(seed=seed)
    single_info = []
    for i, env in enumerate(singles):
        s_obs, s_info = env.reset(seed=seed + i)
        assert_same_obs(obs, i, s_obs)
        single_info.append(s_info)
    autoresets = np.zeros(n, dtype=int)
    for _ in range(steps):
        masks = vec.action_masks()
        for i in range(n):
            np.testing.assert_array_equal(masks[i], single_info[i]["action_mask"])
        actions = masked_actions(rng, masks, nvec)
        obs, reward, terminated, truncated, info = vec.step(actions)
        assert reward.dtype == np.float32 and reward.shape == (n,)
        for i, env in enumerate(singles):
            s_obs, s_reward, s_term, s_trunc, s_info = env.step(actions[i])
            assert reward[i] == np.float32(s_reward)
            assert (terminated[i], truncated[i]) == (s_term, s_trunc)
            assert info["invalid_action"][i] == s_info["invalid_action"]
            if s_term or s_trunc:
                assert info["_final_obs"][i] and info["_final_info"][i]
                final_obs = info["final_obs"][i]  # Gymnasium: an object array of obs dicts
                for key, value in s_obs.items():
                    np.testing.assert_array_equal(final_obs[key], value, err_msg=key)
                # Gymnasium batches nested info dicts: metric -> array over envs
                batched = info["final_info"]["episode_metrics"]
                assert batched["_requests"][i]
                metrics = {k: v[i].item() for k, v in batched.items() if not k.startswith("_")}
                assert_same_metrics(metrics, s_info["episode_metrics"])
                s_obs, s_info = env.reset()  # unseeded: continues from seed + i
                autoresets[i] += 1
            else:
                assert "final_obs" not in info or not info["_final_obs"][i]
            assert_same_obs(obs, i, s_obs)
            single_info[i] = s_info
    assert (autoresets >= 1).all(), autoresets  # every env went through an autoreset
    assert autoresets.sum() >= n + 1


def test_reset_with_a_list_of_seeds() -> None:
    vec = make_vector(2, workload=SMALL)
    obs, _ = vec.reset(seed=[7, 7])
    for key in obs:
        np.testing.assert_array_equal(obs[key][0], obs[key][1])
    with pytest.raises(ValueError, match="3 seeds for 2 envs"):
        vec.reset(seed=[1, 2, 3])


def test_mask_shapes_and_consistency() -> None:
    n = 4
    vec = make_vector(n, workload=SMALL)
    layout = Layout(4)
    with pytest.raises(RuntimeError):
        vec.action_masks()
    _, info = vec.reset(seed=0)
    rng = np.random.default_rng(1)
    nvec = vec.single_action_space.nvec
    assert layout.mask_size == nvec.sum()
    assert nvec.tolist() == [4, layout.window, 5, 5, 6, 4]
    for _ in range(30):
        masks = vec.action_masks()
        assert masks.shape == (n, nvec.sum()) and masks.dtype == bool
        assert info["action_mask"].shape == (n, nvec.sum())
        np.testing.assert_array_equal(info["action_mask"], masks)
        for part in np.split(masks, np.cumsum(nvec)[:-1], axis=1):
            assert part.any(axis=1).all()  # every field has an allowed value (NOOP exists)
        assert masks[:, 0].all()  # NOOP is always allowed
        _, _, _, _, info = vec.step(masked_actions(rng, masks, nvec))


@pytest.mark.parametrize("field", range(6))
def test_out_of_range_actions_raise_naming_the_field(field: int) -> None:
    vec = make_vector(2, workload=SMALL)
    vec.reset(seed=0)
    nvec = vec.single_action_space.nvec
    actions = np.zeros((2, 6), dtype=np.int64)
    actions[1, field] = nvec[field]
    with pytest.raises(ValueError, match=rf"{FIELDS[field]}={nvec[field]}"):
        vec.step(actions)
    actions[1, field] = -1
    with pytest.raises(ValueError, match=rf"{FIELDS[field]}=-1"):
        vec.step(actions)
    single = gym.make(ENV_ID, workload=SMALL).unwrapped
    single.reset(seed=0)
    with pytest.raises(ValueError, match=FIELDS[field]):
        single.step(actions[1])


def test_badly_shaped_actions_raise() -> None:
    vec = make_vector(2, workload=SMALL)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        vec.step(np.zeros((3, 6), dtype=np.int64))
    with pytest.raises(ValueError, match="integer"):
        vec.step(np.zeros((2, 6)))


def test_invalid_action_is_a_penalised_noop() -> None:
    """Two copies of one episode: NOOP in env 0, an invalid action in env 1."""
    invalid_weight, scale = 2.0, 0.1
    vec = make_vector(2, workload=SMALL, reward={"invalid": invalid_weight, "scale": scale})
    obs, info = vec.reset(seed=[5, 5])
    assert not info["action_mask"][0, 2]  # nothing runs yet: PREEMPT is masked out
    actions = np.zeros((2, 6), dtype=np.int64)
    actions[1] = [2, 0, 0, 0, 0, 1]  # PREEMPT the request in queue row 0: not running
    obs, reward, _, _, info = vec.step(actions)
    assert info["invalid_action"].tolist() == [False, True]
    assert info["reject_reason"][0] == 0
    for key in obs:
        np.testing.assert_array_equal(obs[key][0], obs[key][1])
    assert reward[1] == pytest.approx(reward[0] - scale * invalid_weight, abs=1e-6)


def test_unmasked_random_actions_never_crash() -> None:
    """Uniform actions over the whole space: many are invalid, all are handled."""
    n = 4
    vec = make_vector(n, workload=SMALL, reward={"invalid": 1.0, "scale": 1.0})
    vec.reset(seed=3)
    rng = np.random.default_rng(3)
    nvec = vec.single_action_space.nvec
    invalid_count = valid_count = ends = 0
    for _ in range(400):
        actions = rng.integers(0, nvec, size=(n, 6))
        obs, reward, terminated, truncated, info = vec.step(actions)
        assert obs in vec.observation_space
        invalid = info["invalid_action"]
        # the penalty is in the reward: with weight 1 and scale 1, an invalid step costs >= 1
        assert (reward[invalid] <= -1.0 + 1e-6).all()
        assert not invalid[actions[:, 0] == 0].any()  # a NOOP is never invalid
        assert (info["reject_reason"][~invalid] == 0).all()
        invalid_count += int(invalid.sum())
        valid_count += int((~invalid & (actions[:, 0] != 0)).sum())
        ends += int((terminated | truncated).sum())
    assert invalid_count > 100 and valid_count > 10
    assert ends >= 1


def test_masks_refer_to_the_returned_observation() -> None:
    """Slots a mask allows are rows the observation shows (single and vector env)."""
    single = gym.make(ENV_ID, workload=SMALL)
    vec = make_vector(2, workload=SMALL)
    nvec = vec.single_action_space.nvec
    window = nvec[1]
    rng = np.random.default_rng(4)
    obs, info = single.reset(seed=1)
    v_obs, v_info = vec.reset(seed=1)
    checked = 0
    for _ in range(150):
        allowed = info["action_mask"][4 : 4 + window]
        present = obs["requests"][:, 0] == 1.0
        assert not (allowed & ~present).any()
        v_allowed = v_info["action_mask"][:, 4 : 4 + window]
        assert not (v_allowed & ~(v_obs["requests"][..., 0] == 1.0)).any()
        checked += int(allowed.sum())
        action = masked_actions(rng, info["action_mask"][None], nvec)[0]
        obs, _, terminated, truncated, info = single.step(action)
        if terminated or truncated:
            obs, info = single.reset()
        v_obs, _, _, _, v_info = vec.step(masked_actions(rng, v_info["action_mask"], nvec))
    assert checked > 50
