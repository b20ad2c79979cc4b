"""The native vector env: registration, equivalence with single envs, masks, bad actions."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.envs import ClusterSchedVectorEnv
from pecgym.envs.sampling import sample_masked_actions

ENV_ID = "pecgym/ConvBusy-v1"
SMALL = {"source": "synthetic:conv", "num_requests": 10, "rate_scale": 4.0}


def masked_actions(rng: np.random.Generator, masks: np.ndarray) -> np.ndarray:
    """``(N,)`` actions, each uniform over the allowed ones."""
    return sample_masked_actions(masks, rng)


def make_vector(num_envs: int, **kwargs) -> ClusterSchedVectorEnv:
    env = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(env, ClusterSchedVectorEnv)
    return env


def unbatch(batched: dict, env: int) -> dict:
    return {
        k: v[env].item() if isinstance(v[env], np.generic) else v[env]
        for k, v in batched.items()
        if not k.startswith("_")
    }


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


@pytest.mark.parametrize("env_id", ["pecgym/ClusterSched-v1", "pecgym/LongMix-v1"])
def test_make_vec_returns_native_vector_env(env_id: str) -> None:
    env = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    assert type(env) is ClusterSchedVectorEnv
    assert env.num_envs == 3
    single = gym.make(env_id)
    assert env.single_observation_space == single.observation_space
    assert env.single_action_space == single.action_space
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space
    assert env.action_space.shape == (3,)


def test_vector_env_matches_single_envs_across_autoresets() -> None:
    """Env i of ``reset(seed=s)`` replays a single env seeded ``s + i``, autoresets included."""
    n, seed, steps = 3, 100, 1500
    vec = make_vector(n, workload=SMALL)
    singles = [gym.make(ENV_ID, workload=SMALL) for _ in range(n)]
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
        actions = masked_actions(rng, masks)
        obs, reward, terminated, truncated, info = vec.step(actions)
        assert reward.dtype == np.float32 and reward.shape == (n,)
        for i, env in enumerate(singles):
            s_obs, s_reward, s_term, s_trunc, s_info = env.step(int(actions[i]))
            assert reward[i] == np.float32(s_reward)
            assert (terminated[i], truncated[i]) == (s_term, s_trunc)
            assert info["invalid_action"][i] == s_info["invalid_action"]
            for key, value in s_info["reward_breakdown"].items():
                assert info["reward_breakdown"][key][i] == value
            if s_term or s_trunc:
                assert info["_final_obs"][i] and info["_final_info"][i]
                final_obs = info["final_obs"][i]  # Gymnasium: an object array of obs dicts
                for key, value in s_obs.items():
                    np.testing.assert_array_equal(final_obs[key], value, err_msg=key)
                # Gymnasium batches nested info dicts: metric -> array over envs
                batched = info["final_info"]["episode_metrics"]
                assert batched["_requests"][i]
                assert_same_metrics(unbatch(batched, i), s_info["episode_metrics"])
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
    with pytest.raises(RuntimeError):
        vec.action_masks()
    _, info = vec.reset(seed=0)
    rng = np.random.default_rng(1)
    size = vec.single_action_space.n
    layout = vec.core.layout
    assert size == layout.size == 1 + 16 * 5 * 2 + 16 * 3 + 16 * 4  # Q=16, I=4, R=16
    for _ in range(30):
        masks = vec.action_masks()
        assert masks.shape == (n, size) and masks.dtype == bool
        np.testing.assert_array_equal(info["action_mask"], masks)
        assert masks[:, 0].all()  # WAIT is always allowed
        _, _, _, _, info = vec.step(masked_actions(rng, masks))


def test_out_of_range_actions_raise_naming_the_value() -> None:
    vec = make_vector(2, workload=SMALL)
    vec.reset(seed=0)
    size = vec.single_action_space.n
    for bad in (size, -1):
        with pytest.raises(ValueError, match=rf"action {bad} of env 1 is not in \[0, {size}\)"):
            vec.step(np.array([0, bad]))
    single = gym.make(ENV_ID, workload=SMALL).unwrapped
    single.reset(seed=0)
    with pytest.raises(ValueError, match="not in"):
        single.step(size)


def test_badly_shaped_or_typed_actions_raise() -> None:
    vec = make_vector(2, workload=SMALL)
    vec.reset(seed=0)
    for bad in (np.zeros(3, dtype=np.int64), np.zeros((2, 1), dtype=np.int64), 0):
        with pytest.raises(ValueError, match="shape"):
            vec.step(bad)
    with pytest.raises(ValueError, match="integers"):
        vec.step(np.zeros(2))  # floats are not silently truncated
    single = gym.make(ENV_ID, workload=SMALL).unwrapped
    single.reset(seed=0)
    for bad in (1.0, np.float32(1), np.array([1]), [1], "1"):
        with pytest.raises(ValueError, match="one integer"):
            single.step(bad)
    single.step(np.int64(0))  # numpy and Python integers are fine
    single.step(0)


def test_invalid_action_waits_and_is_penalised() -> None:
    """Two copies of one episode: WAIT in env 0, an action the mask refuses in env 1."""
    penalty = 2.0
    vec = make_vector(2, workload=SMALL, reward={"invalid_penalty": penalty})
    obs, info = vec.reset(seed=[5, 5])
    layout = vec.core.layout
    preempt = layout.preempt(0, 0)
    assert not info["action_mask"][1, preempt]  # nothing runs yet: no PREEMPT
    obs, reward, _, _, info = vec.step(np.array([0, preempt]))
    assert info["invalid_action"].tolist() == [False, True]
    for key in obs:
        np.testing.assert_array_equal(obs[key][0], obs[key][1])  # it waited like env 0
    assert reward[1] == pytest.approx(reward[0] - penalty, abs=1e-6)
    assert info["reward_breakdown"]["invalid"].tolist() == [0.0, -penalty]


def test_unmasked_random_actions_never_crash() -> None:
    """Uniform actions over the whole space: most are invalid, all are handled."""
    n = 4
    vec = make_vector(n, workload=SMALL, reward={"invalid_penalty": 1.0})
    vec.reset(seed=3)
    rng = np.random.default_rng(3)
    size = vec.single_action_space.n
    invalid_count = valid_count = ends = 0
    for _ in range(400):
        masks = vec.action_masks()
        actions = rng.integers(0, size, size=n)
        obs, reward, terminated, truncated, info = vec.step(actions)
        assert obs in vec.observation_space
        invalid = info["invalid_action"]
        np.testing.assert_array_equal(invalid, ~masks[np.arange(n), actions])  # masks exact
        assert (reward[invalid] <= -1.0 + 1e-6).all()
        assert ((info["reject_reason"] != 0) == invalid).all()  # each refusal says why
        invalid_count += int(invalid.sum())
        valid_count += int((~invalid & (actions != 0)).sum())
        ends += int((terminated | truncated).sum())
    assert invalid_count > 100 and valid_count > 10
    assert ends >= 1


def test_masks_refer_to_the_returned_observation() -> None:
    """Rows a mask allows an action on are rows the observation shows."""
    vec = make_vector(2, workload=SMALL)
    layout = vec.core.layout
    rng = np.random.default_rng(4)
    obs, info = vec.reset(seed=1)
    checked = 0
    for _ in range(150):
        masks = info["action_mask"]
        present = obs["requests"][..., 0] == 1.0
        for env in range(2):
            allowed = np.flatnonzero(masks[env, 1:]) + 1
            kind, row, _, _ = layout.split(allowed)
            column = np.where(kind == 1, row, layout.queue_rows + row)
            assert present[env, column].all()
            checked += allowed.size
        obs, _, _, _, info = vec.step(masked_actions(rng, masks))
    assert checked > 50
