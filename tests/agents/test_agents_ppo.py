"""PPO training, TensorBoard episode metrics, saving/loading, and env policies."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")
pytest.importorskip("tensorboard")

import torch
from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.agents import (
    AgentPolicy,
    HeuristicPolicy,
    load_agent,
    run_episodes,
    train_ppo,
)
from pecgym.baselines import FIFOPolicy, run_policy
from pecgym.cli import main
from pecgym.envs.core import step_bound
from pecgym.envs.sampling import sample_masked_actions
from pecgym.sim.metrics import summarize
from pecgym.sim.simulator import ClusterSim

ENV_ID = "pecgym/ConvBusy-v1"
WORKLOAD = {"source": "synthetic:conv", "num_requests": 8, "rate_scale": 4.0}
SMALL_PPO = {"n_steps": 128, "batch_size": 64, "n_epochs": 2}
LOGGED = (
    "episode/ttft_p50",
    "episode/queueing_delay_short_p99",
    "episode/jct_mean",
    "episode/short_throughput_rps",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A MaskablePPO agent trained briefly, with its TensorBoard dir and saved file."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("maskable")
    model = train_ppo(
        ENV_ID,
        total_timesteps=1024,
        num_envs=2,
        seed=0,
        env_kwargs={"workload": WORKLOAD},
        tensorboard_log=root / "tb",
        save_path=root / "models" / "agent.zip",
        **SMALL_PPO,
    )
    return model, root


def scalars(logdir: Path) -> dict[str, list[float]]:
    """Every scalar in the event files under ``logdir``: tag -> values."""
    files = sorted(logdir.rglob("events.out.tfevents.*"))
    assert files, f"no event files in {logdir}"
    out: dict[str, list[float]] = {}
    for path in files:
        events = EventAccumulator(str(path))
        events.Reload()
        for tag in events.Tags()["scalars"]:
            out.setdefault(tag, []).extend(e.value for e in events.Scalars(tag))
    return out


def test_training_logs_episode_metrics_to_tensorboard(trained) -> None:
    model, root = trained
    assert model.num_timesteps >= 1024
    logged = scalars(root / "tb")
    for tag in LOGGED:
        assert tag in logged, sorted(logged)
        assert logged[tag] and all(math.isfinite(v) for v in logged[tag]), tag
    assert all(v > 0 for v in logged["episode/jct_mean"])
    assert all(v > 0 for v in logged["episode/short_throughput_rps"])
    # every logged episode completed its 8 requests (terminated, not truncated)
    assert all(v == WORKLOAD["num_requests"] for v in logged["episode/completed"])
    assert max(logged["episode/episodes_total"]) >= 2
    assert "rollout/ep_rew_mean" in logged  # SB3 saw the adapter's info["episode"]


def test_saved_agent_reloads_and_acts_like_the_trained_one(trained) -> None:
    model, root = trained
    path = root / "models" / "agent.zip"
    assert path.stat().st_size > 0
    loaded = load_agent(path, algo="maskable_ppo")
    assert type(loaded) is type(model)
    for (name, a), (_, b) in zip(
        model.policy.state_dict().items(), loaded.policy.state_dict().items(), strict=True
    ):
        assert torch.equal(a.cpu(), b.cpu()), name

    env = gym.make(ENV_ID, workload=WORKLOAD)
    obs, info = env.reset(seed=0)
    policy, reloaded = AgentPolicy(model), AgentPolicy(loaded)
    assert policy.use_masks and policy.name == "maskableppo"
    rng = np.random.default_rng(0)
    for _ in range(30):
        action = reloaded.act(obs, info["action_mask"])
        assert np.shape(action) == ()
        assert action == policy.act(obs, info["action_mask"])
        assert info["action_mask"][action]  # the chosen action is allowed
        # explore with random masked actions so the comparison sees varied states
        random_action = int(sample_masked_actions(info["action_mask"], rng)[0])
        obs, _, terminated, truncated, info = env.step(random_action)
        if terminated or truncated:
            obs, info = env.reset()


def test_loaded_agent_runs_an_episode_on_the_env(trained) -> None:
    _, root = trained
    policy = AgentPolicy(load_agent(root / "models" / "agent.zip"))
    env = gym.make(ENV_ID, workload=WORKLOAD)  # episodes end by themselves
    (metrics,) = run_episodes(policy, env, episodes=1, seed=123)
    assert metrics["episode_seed"] == 123
    assert metrics["requests"] == WORKLOAD["num_requests"]
    assert 1 <= metrics["steps"] <= step_bound(env.unwrapped.core, 0)
    assert metrics["completed"] + metrics["unfinished"] + metrics["not_arrived"] == 8

    # under Gymnasium's TimeLimit the episode ends without the env's info; the metrics are
    # still read from the ended episode
    # (64 requests: more than 20 steps of work, so the limit, not the env, ends it)
    limited = gym.make(ENV_ID, workload={**WORKLOAD, "num_requests": 64}, max_episode_steps=20)
    (metrics,) = run_episodes(policy, limited, episodes=1, seed=5)
    assert metrics["steps"] == 20 and metrics["episode_seed"] == 5


def test_plain_ppo_trains_without_masks_and_runs_on_a_vector_env(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    model = train_ppo(
        ENV_ID,
        total_timesteps=256,
        num_envs=2,
        algo="ppo",
        env_kwargs={"workload": WORKLOAD},
        tensorboard_log=tmp_path,
        **SMALL_PPO,
    )
    policy = AgentPolicy(model, deterministic=False)
    assert not policy.use_masks
    with pytest.raises(ValueError, match="action masks"):
        AgentPolicy(model, use_masks=True)
    vec = gym.make_vec(
        ENV_ID,
        num_envs=2,
        vectorization_mode="vector_entry_point",
        workload=WORKLOAD,
    )
    results = run_episodes(policy, vec, episodes=3, seed=0)
    # env 0 plays episodes 0 and 2 of the quota, env 1 episode 1: seeds 0, (drawn), 1
    assert len(results) == 3
    assert results[0]["episode_seed"] == 0 and results[2]["episode_seed"] == 1
    assert list(tmp_path.rglob("events.out.tfevents.*"))


def test_heuristic_runs_through_the_same_loop_as_agents() -> None:
    vec = gym.make_vec(
        ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", workload=WORKLOAD
    )
    results = run_episodes(HeuristicPolicy(FIFOPolicy()), vec, episodes=2, seed=4)
    core = vec.unwrapped.core
    sim = run_policy(
        ClusterSim(core.cluster, [core.config.workload.build(s) for s in (4, 5)]),
        FIFOPolicy(),
    )
    for i, metrics in enumerate(results):
        assert metrics["episode_seed"] == 4 + i
        assert metrics["jct.mean"] == summarize(sim, i)["jct.mean"]
        assert metrics["completed"] == 8


def test_cli_train_writes_a_model_and_logs(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "train",
            "--env",
            ENV_ID,
            "--timesteps",
            "128",
            "--num-envs",
            "2",
            "--num-requests",
            "8",
            "--n-steps",
            "64",
            "--batch-size",
            "64",
            "--threads",
            "1",
            "--tensorboard",
            str(tmp_path / "runs"),
            "--save",
            str(tmp_path / "models" / "agent.zip"),
        ]
    )
    assert code == 0
    assert "trained maskable_ppo" in capsys.readouterr().out
    assert (tmp_path / "models" / "agent.zip").stat().st_size > 0
    assert any(p.stat().st_size > 0 for p in (tmp_path / "runs").rglob("events.out.tfevents.*"))
    assert load_agent(tmp_path / "models" / "agent.zip").num_timesteps >= 128


def test_cli_train_without_rl_extras_says_how_to_install(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "sb3_contrib", None)  # as if not installed
    assert main(["train", "--timesteps", "8"]) == 1
    err = capsys.readouterr().err
    assert "sb3_contrib" in err and 'pip install -e ".[rl]"' in err


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="algo"):
        train_ppo(total_timesteps=8, algo="dqn")
    with pytest.raises(ValueError, match="total_timesteps"):
        train_ppo(total_timesteps=0)
    with pytest.raises(FileNotFoundError):
        load_agent("/nonexistent/agent.zip")


def test_importing_agents_does_not_import_torch() -> None:
    code = (
        "import sys, pecgym, pecgym.agents, pecgym.cli; pecgym.cli.build_parser(); "
        "heavy = ('torch', 'stable_baselines3', 'sb3_contrib'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_action_prior_favours_waiting_and_auto_starts() -> None:
    from sb3_contrib import MaskablePPO

    from pecgym.agents.ppo import set_action_prior
    from pecgym.envs.sb3 import make_sb3_vec_env

    torch.set_num_threads(1)
    venv = make_sb3_vec_env(ENV_ID, 2, workload=WORKLOAD)
    model = MaskablePPO("MultiInputPolicy", venv, seed=0, device="cpu")
    layout = venv.env.core.layout
    set_action_prior(model, layout, 3.0)
    observation, _ = model.policy.obs_to_tensor(venv.reset())
    probs = model.policy.get_distribution(observation).distribution.probs[0].detach().numpy()
    favoured = np.zeros(layout.size, dtype=bool)
    favoured[0] = True
    favoured[layout.start(np.arange(layout.queue_rows), 0, 0)] = True
    # e^3 = 20: every favoured action is about 20 times as likely as any other
    assert probs[favoured].min() > 15 * probs[~favoured].max()
