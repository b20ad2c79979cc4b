"""Imitation warm start: demonstrations through the env's actions, cloning, DAgger."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sb3_contrib")

from pecgym import baselines
from pecgym.agents import AgentPolicy, build_train_config
from pecgym.agents.imitation import clone, collect_demonstrations
from pecgym.agents.training import train
from pecgym.benchmark import Scenario, rollout

ENV_ID = "pecgym/ConvBusy-v1"
WORKLOAD = {"num_requests": 16, "rate_scale": 12.0}
CONFIG = Scenario.from_env_id(ENV_ID, {"workload": WORKLOAD}).config


def test_demonstrations_are_the_teachers_allowed_actions_on_its_own_episodes() -> None:
    teacher = baselines.get("sjf")
    demos = collect_demonstrations(teacher, CONFIG, [0, 1], gamma=0.99)
    plain = rollout(baselines.get("sjf"), CONFIG, [0, 1]).episodes
    # recording does not change what the teacher does
    assert [e["objective"] for e in demos.episodes] == [e["objective"] for e in plain]
    assert len(demos) == sum(e["steps"] for e in plain)
    assert demos.masks[np.arange(len(demos)), demos.actions].all()
    assert all(len(v) == len(demos) for v in demos.observations.values())
    # discounted returns: negative costs
    assert (demos.returns <= 0).all()
    # labelling a random student's states: only labels the env would carry out are kept
    student = baselines.get("random")
    labelled = collect_demonstrations(teacher, CONFIG, [0, 1], gamma=0.99, student=student)
    assert labelled.masks[np.arange(len(labelled)), labelled.actions].all()
    assert len(labelled) <= sum(e["steps"] for e in labelled.episodes)


def test_cloning_fits_the_teacher_and_dagger_adds_the_clones_states() -> None:
    config = build_train_config(
        {
            "timesteps": 0,
            "num_envs": 2,
            "env": {"workload": WORKLOAD},
            "imitation": {
                "teacher": "sjf",
                "episodes": 6,
                "epochs": 60,
                "batch_size": 32,
                "dagger_rounds": 1,
            },
        }
    )
    run = train(ENV_ID, config)
    history = run.imitation_history
    first = [row for row in history if row["round"] == 0]
    second = [row for row in history if row["round"] == 1]
    assert first[-1]["accuracy"] > first[0]["accuracy"] and first[-1]["accuracy"] > 0.8
    assert first[0]["actor"] == "teacher" and second[0]["actor"] == "clone"
    assert second[0]["samples"] > first[0]["samples"]
    # the clone serves every request, close to its teacher
    agent = AgentPolicy(run.model)
    cloned = rollout(agent, run.env_config, [100, 101]).episodes
    taught = rollout(baselines.get("sjf"), run.env_config, [100, 101]).episodes
    assert all(e["completed"] == 16 for e in cloned)
    assert np.mean([e["objective"] for e in cloned]) < 1.5 * np.mean(
        [e["objective"] for e in taught]
    )


def test_clone_fits_the_value_head_to_the_returns() -> None:
    from sb3_contrib import MaskablePPO

    from pecgym.envs.sb3 import make_sb3_vec_env

    demos = collect_demonstrations(baselines.get("fifo"), CONFIG, [3], gamma=0.99)
    model = MaskablePPO("MultiInputPolicy", make_sb3_vec_env(ENV_ID, 1, config=CONFIG))
    history = clone(
        model, demos, epochs=6, batch_size=64, learning_rate=1e-3, value_coef=1.0, seed=0
    )
    assert history[-1]["value_mse"] < history[0]["value_mse"]
    assert history[-1]["nll"] < history[0]["nll"]
