"""Training from recipes: TensorBoard metrics, validation, checkpoints, resume, Ctrl-C,
saving/loading with the env config, and the agent policy."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")
pytest.importorskip("tensorboard")

import torch
from stable_baselines3.common.callbacks import BaseCallback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.agents import AgentPolicy, build_train_config, load_model, load_policy
from pecgym.agents.training import set_action_prior, train
from pecgym.benchmark import Scenario, rollout
from pecgym.cli import main
from pecgym.envs.core import SchedCore

ENV_ID = "pecgym/ConvBusy-v1"
WORKLOAD = {"source": "synthetic:conv", "num_requests": 8, "rate_scale": 4.0}
TINY = {
    "timesteps": 1024,
    "num_envs": 2,
    "ppo": {"n_steps": 128, "batch_size": 64, "n_epochs": 2},
    "eval": {"every": 512, "seeds": [900_000, 900_002]},
    "checkpoint_every": 512,
    "env": {"workload": WORKLOAD},
}
LOGGED = (
    "episode/ttft_p50",
    "episode/queueing_delay_short_p99",
    "episode/jct_mean",
    "episode/short_throughput_rps",
    "eval/objective",
    "eval/queueing_delay_short_p99",
    "eval/starvation_rate",
    "eval/best_objective",
    "train/value_loss",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A MaskablePPO agent trained briefly from a recipe, with its run folder."""
    root = tmp_path_factory.mktemp("maskable")
    run = train(ENV_ID, build_train_config(TINY), out=root / "run", tensorboard_log=root / "tb")
    return run, root


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


def test_training_logs_episode_and_eval_metrics_to_tensorboard(trained) -> None:
    run, root = trained
    assert run.timesteps == 1024 and not run.interrupted
    logged = scalars(root / "tb")
    for tag in LOGGED:
        assert tag in logged, sorted(logged)
        assert logged[tag] and all(math.isfinite(v) for v in logged[tag]), tag
    assert all(v > 0 for v in logged["episode/jct_mean"])
    assert max(logged["episode/episodes_total"]) >= 2
    assert "rollout/ep_rew_mean" in logged  # SB3 saw the adapter's info["episode"]
    # validation before training, then every 512 steps
    assert [row["timesteps"] for row in run.eval_history] == [0, 512, 1024]
    assert logged["eval/objective"] == pytest.approx([r["objective"] for r in run.eval_history])


def test_run_folder_holds_models_curves_recipe_and_checkpoints(trained) -> None:
    run, root = trained
    folder = root / "run"
    for name in ("final.zip", "best.zip", "eval.csv", "recipe.yaml"):
        assert (folder / name).stat().st_size > 0, name
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == [
        "agent_1024_steps.zip",
        "agent_512_steps.zip",
    ]
    best = min(run.eval_history, key=lambda row: row["objective"])
    policy = load_policy(str(folder / "best.zip"))
    assert policy.name == f"agent:{folder / 'best.zip'}"
    assert policy.meta["env_id"] == ENV_ID
    assert policy.meta["env_config"]["workload"]["num_requests"] == 8
    # the best model, rerun on the validation seeds, gives the objective it was kept for
    config = Scenario.from_env_id(ENV_ID, {"workload": WORKLOAD}).env_config(policy)
    episodes = rollout(policy, config, range(900_000, 900_002)).episodes
    assert np.mean([e["objective"] for e in episodes]) == pytest.approx(best["objective"])


def test_resume_continues_the_timestep_count(trained, tmp_path: Path) -> None:
    _, root = trained
    checkpoint = root / "run" / "checkpoints" / "agent_512_steps.zip"
    resumed = train(
        ENV_ID, build_train_config(TINY, {"eval": {"every": 0}}), out=tmp_path, resume=checkpoint
    )
    assert resumed.timesteps == 1024  # 512 from the checkpoint, 512 more


def test_ctrl_c_saves_the_model_and_reports_it(tmp_path: Path) -> None:
    class Interrupt(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps >= 300:
                raise KeyboardInterrupt
            return True

    config = build_train_config(TINY, {"eval": {"every": 0}, "checkpoint_every": 0})
    run = train(ENV_ID, config, out=tmp_path, callbacks=[Interrupt()])
    assert run.interrupted and 300 <= run.timesteps < 1024
    assert load_model(str(tmp_path / "final.zip")).num_timesteps == run.timesteps


def test_saved_agent_reloads_and_acts_like_the_trained_one(trained) -> None:
    run, root = trained
    loaded = load_model(str(root / "run" / "final.zip"))
    assert type(loaded) is type(run.model)
    for (name, a), (_, b) in zip(
        run.model.policy.state_dict().items(), loaded.policy.state_dict().items(), strict=True
    ):
        assert torch.equal(a.cpu(), b.cpu()), name
    policy, reloaded = AgentPolicy(run.model), AgentPolicy(loaded)
    assert policy.use_masks
    core = SchedCore(3, run.env_config)
    core.reset_envs(range(3), [5, 6, 7])
    masks = core.action_masks()
    actions = reloaded.act(core.observe(), masks, core)
    assert actions.shape == (3,) and masks[np.arange(3), actions].all()
    assert (actions == policy.act(core.observe(), masks, core)).all()
    one = reloaded.act({k: v[0] for k, v in core.observe().items()}, masks[0])
    assert np.shape(one) == () and one == actions[0]


def test_agent_refuses_a_scenario_with_other_spaces(trained) -> None:
    run, _ = trained
    policy = AgentPolicy(run.model, name="tiny")
    other = Scenario.from_env_id(ENV_ID, {"cluster": {"num_instances": 6}})
    with pytest.raises(ValueError, match=r"tiny.*trained on observation"):
        rollout(policy, other.env_config(policy), [1])


def test_plain_ppo_trains_without_masks(tmp_path: Path) -> None:
    config = build_train_config(
        TINY, {"algo": "ppo", "timesteps": 256, "eval": {"every": 0}, "checkpoint_every": 0}
    )
    run = train(ENV_ID, config, tensorboard_log=tmp_path)
    policy = AgentPolicy(run.model, deterministic=False)
    assert not policy.use_masks
    with pytest.raises(ValueError, match="action masks"):
        AgentPolicy(run.model, use_masks=True)
    episodes = rollout(policy, run.env_config, [0, 1]).episodes
    assert [e["seed"] for e in episodes] == [0, 1]
    assert all(e["requests"] == 8 for e in episodes)
    assert list(tmp_path.rglob("events.out.tfevents.*"))


def test_recipes_resolve_in_layers_and_name_bad_fields(tmp_path: Path) -> None:
    from pecgym.agents import load_recipe
    from pecgym.sim.config import ConfigError

    shipped = load_recipe("ConvBusy-v1")
    assert shipped.imitation.teacher == "sjf" and shipped.eval.every > 0
    file = tmp_path / "recipe.yaml"
    file.write_text("ppo: {gamma: 0.99}\nenv: {cluster: {num_instances: 8}}\n")
    config = load_recipe("ConvBusy-v1", file, {"ppo": {"n_steps": 100}, "num_envs": 3})
    assert config.ppo.gamma == 0.99 and config.ppo.n_steps == 100
    assert config.imitation.teacher == "sjf"  # kept from the shipped recipe
    assert config.env == {"cluster": {"num_instances": 8}}
    assert config.rollout_steps == 300 and config.actual_timesteps == 200_100
    with pytest.raises(ConfigError, match=r"ppo\.gama"):
        build_train_config({"ppo": {"gama": 0.9}})
    with pytest.raises(ConfigError, match="algo"):
        build_train_config({"algo": "dqn"})
    with pytest.raises(ConfigError, match="timesteps"):
        build_train_config({"timesteps": -1})
    file.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_recipe("ConvBusy-v1", file)
    with pytest.raises(ValueError, match="no agent"):
        load_model("/nonexistent/agent.zip")
    not_an_agent = tmp_path / "x.zip"
    not_an_agent.write_text("hello")
    with pytest.raises(ValueError, match="not a saved stable-baselines3 agent"):
        load_model(str(not_an_agent))


def test_cli_train_evaluate_and_compare_an_agent(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        "timesteps: 200\nnum_envs: 2\nppo: {n_steps: 64, batch_size: 64, n_epochs: 1}\n"
        "imitation: {episodes: 2, epochs: 1}\neval: {every: 0}\n"
    )
    out = tmp_path / "run"
    args = ["train", "--env", ENV_ID, "--config", str(recipe), "--num-requests", "8"]
    args += ["--hp", "ppo.learning_rate=1e-4", "--out", str(out), "--tensorboard"]
    assert main([*args, str(tmp_path / "tb")]) == 0
    printed = capsys.readouterr().out
    assert "200 timesteps become 256" in printed
    assert "trained maskable_ppo" in printed and "imitation of sjf" in printed
    model = load_model(str(out / "final.zip"))
    assert model.num_timesteps == 256 and model.learning_rate == 1e-4
    assert any(p.stat().st_size > 0 for p in (tmp_path / "tb").rglob("events.out.tfevents.*"))

    report = tmp_path / "eval.json"
    agent = str(out / "final.zip")
    evaluate = ["evaluate", "--agent", agent, "--num-requests", "8", "--seeds", "3,4"]
    assert main([*evaluate, "--baselines", "fifo", "--quiet", "--json", str(report)]) == 0
    table = capsys.readouterr().out
    assert f"agent:{agent}" in table and "fifo" in table and "objective" in table
    record = json.loads(report.read_text())
    assert record["env_id"] == ENV_ID and record["seeds"] == [3, 4]
    assert len(record["episodes"]) == 4

    compare = ["compare", "--scenario", "ConvBusy-v1", "--num-requests", "8", "--seeds", "3"]
    code = main([*compare, "--policies", f"fifo,agent:{agent}", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    assert f"agent:{agent}" in capsys.readouterr().out


def test_cli_train_rejects_bad_input_before_any_work(tmp_path: Path, capsys) -> None:
    cases = {
        ("--env", "pecgym/Nope-v1"): "Nope",
        ("--hp", "ppo.gama=0.9"): "ppo.gama",
        ("--teacher", "nope"): "imitation.teacher",
        ("--env-kwargs", '{"cluster": {"num_instancez": 4}}'): "num_instancez",
        ("--resume", str(tmp_path / "missing.zip")): "--resume",
        ("--config", str(tmp_path / "missing.yaml")): "no recipe file",
    }
    for extra, named in cases.items():
        assert main(["train", "--timesteps", "8", *extra]) == 2, extra
        assert named in capsys.readouterr().err, extra
    assert not list(tmp_path.iterdir())


def test_cli_train_without_rl_extras_says_how_to_install(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "sb3_contrib", None)  # as if not installed
    assert main(["train", "--timesteps", "8"]) == 2
    err = capsys.readouterr().err
    assert "sb3_contrib" in err and '-e ".[rl]"' in err


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


def test_reward_normalisation_wraps_the_env_and_still_masks(tmp_path: Path) -> None:
    from stable_baselines3.common.vec_env import VecNormalize

    config = build_train_config(
        TINY,
        {"normalize_reward": True, "timesteps": 256, "eval": {"every": 0}, "checkpoint_every": 0},
    )
    run = train(ENV_ID, config)
    assert isinstance(run.model.get_env(), VecNormalize)
    assert run.timesteps == 256
    episodes = rollout(AgentPolicy(run.model), run.env_config, [0]).episodes
    assert episodes[0]["invalid_actions"] == 0
