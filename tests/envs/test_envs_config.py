"""One typed config: built at the door, deep-merged onto the scenario, every field reachable
from ``gym.make`` and the CLI, errors that name the field, and the resolved tree recorded."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import pytest

import pecgym  # noqa: F401  (registers the env ids)
from pecgym.cli import main
from pecgym.commands.options import add_config_arguments, overrides_from_args, scenario_from_args
from pecgym.envs.config import EnvConfig, field_paths
from pecgym.envs.scenarios import SCENARIOS, get_scenario
from pecgym.sim.config import ConfigError

# a valid value other than the default, for every setting
OTHER = {
    "cluster.model": "mistral-7b",
    "cluster.gpu": "h100",
    "cluster.tp": 2,
    "cluster.num_instances": 6,
    "cluster.chunk_tokens": 256,
    "cluster.chunked_prefill": True,
    "cluster.sp_method": "ring",
    "cluster.sp_tokens_per_instance": 32768,
    "cluster.short_threshold": 2048,
    "cluster.starvation_timeout": 120.0,
    "cluster.ttft_slo": 2.0,
    "cluster.be_ttft_slo": 20.0,
    "cluster.decision_interval": 0.5,
    "cluster.horizon": 900.0,
    "cluster.drain_time": 60.0,
    "cluster.max_decision_gap": 2.0,
    "cluster.move_budget": 2,
    "cluster.decode_pool": 0.25,
    "cluster.memory_utilization": 0.8,
    "cluster.weight_bits": 8,
    "workload.source": "synthetic:code",
    "workload.num_requests": 40,
    "workload.duration": 30.0,
    "workload.rate_scale": 2.5,
    "workload.long_fraction": 0.05,
    "workload.long_range": (50_000, 100_000),
    "workload.ls_fraction": 0.3,
    "reward.objective": "slo_violations",
    "reward.scale": 0.5,
    "reward.unfinished_penalty": 500.0,
    "reward.invalid_penalty": 0.1,
    "reward.ls_weight": 2.0,
    "observation.view_size": 4,
    "observation.queue_views": ("oldest", "long"),
    "observation.running_window": 8,
    "seeds.train": (10, 1000),
    "seeds.test": (2_000_000, 2_000_010),
}


def test_a_partial_override_keeps_the_rest_of_the_scenario() -> None:
    scenario = get_scenario("ConvBusy-v1").config()
    env = gym.make("pecgym/ConvBusy-v1", workload={"num_requests": 64})
    config = env.unwrapped.config
    assert config.workload.num_requests == 64
    assert config.workload.rate_scale == scenario.workload.rate_scale != 1.0  # not dropped
    assert config.cluster == scenario.cluster
    vec = gym.make_vec(
        "pecgym/ConvBusy-v1", 2, vectorization_mode="vector_entry_point", cluster={"tp": 2}
    )
    assert vec.config.cluster.tp == 2 and vec.config.cluster.num_instances == 4
    assert vec.config.workload == scenario.workload


def test_the_table_of_other_values_covers_every_setting() -> None:
    assert set(OTHER) == set(field_paths())


@pytest.mark.parametrize("path", sorted(OTHER))
def test_every_setting_is_reachable_from_gym_make_and_the_cli(path: str) -> None:
    section, name = path.split(".")
    value = OTHER[path]
    env = gym.make("pecgym/ClusterSched-v1", **{section: {name: value}})
    assert getattr(getattr(env.unwrapped.config, section), name) == value

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    text = json.dumps(list(value)) if isinstance(value, tuple) else str(value)
    for argv in (["--" + path.replace("_", "-"), text], ["--set", f"{path}={text}"]):
        args = parser.parse_args(argv)
        config = EnvConfig.build(*overrides_from_args(args))
        assert getattr(getattr(config, section), name) == value, argv


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_instances": 4}, "it belongs in cluster"),
        ({"cluster": {"num_instance": 4}}, "did you mean 'cluster.num_instances'"),
        ({"cluster": {"num_instances": "4"}}, "cluster.num_instances must be int"),
        ({"cluster": {"num_instances": 0}}, "cluster.num_instances must be in"),
        ({"cluster": {"drain_time": -1.0}}, "cluster.drain_time must be > 0"),
        ({"workload": {"rate_scale": 0}}, "workload.rate_scale must be > 0"),
        ({"workload": 3}, "workload must be a mapping"),
        ({"reward": {"objective": "fast"}}, "reward.objective must be one of"),
        ({"observation": {"queue_views": ["nope"]}}, "observation.queue_views"),
        ({"seeds": {"train": (0, 10), "test": (5, 20)}}, "overlap"),
        ({"cluster": {"model": "gpt-9"}}, "unknown model"),
    ],
)
def test_bad_settings_raise_one_error_naming_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gym.make("pecgym/ConvBusy-v1", **overrides)


def test_the_resolved_config_round_trips_through_json() -> None:
    config = get_scenario("LSMix-v1").config({"cluster": {"tp": 2}})
    text = json.dumps(config.to_dict())
    again = EnvConfig.build(json.loads(text))
    assert again == config and again.digest() == config.digest()
    assert config.merged({"cluster": {"tp": 1}}).digest() != config.digest()


def test_defaults_are_declared_once_in_the_dataclasses() -> None:
    default = EnvConfig()
    assert EnvConfig.build() == default == EnvConfig.build({}, None)
    assert get_scenario("ClusterSched-v1").config() == default


def test_every_scenario_declares_objective_and_disjoint_seed_ranges() -> None:
    for name, spec in SCENARIOS.items():
        config = spec.config()
        (a, b), (c, d) = config.seeds.train, config.seeds.test
        assert b <= c or d <= a, name
        if name != "ClusterSched-v1":
            assert d - c >= 10 and spec.description, name
            assert config.reward.objective in ("slowdown", "slo_violations")


def test_unseeded_episodes_draw_training_seeds() -> None:
    env = gym.make("pecgym/ConvBusy-v1", seeds={"train": (100, 200)}).unwrapped
    env.reset(seed=7)
    assert env.core.episode_seed[0] == 7
    drawn = set()
    for _ in range(20):
        env.reset()
        drawn.add(int(env.core.episode_seed[0]))
    assert drawn <= set(range(100, 200)) and len(drawn) > 10


def test_scenario_options_on_the_cli() -> None:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(["--scenario", "LongMix-v1", "--num-requests", "32"])
    scenario = scenario_from_args(args)
    expected = get_scenario("LongMix-v1").config({"workload": {"num_requests": 32}})
    assert scenario.config == expected


def test_results_record_the_resolved_config(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    code = main(
        ["simulate", "--quiet", "--scenario", "ConvBusy-v1", "--num-requests", "16", "--json",
         str(summary), "--set", "cluster.chunk_tokens=256"]
    )  # fmt: skip
    assert code == 0
    written = json.loads(summary.read_text())
    config = EnvConfig.build(written["config"])
    assert config.cluster.chunk_tokens == 256 and config.workload.num_requests == 16
    assert written["config_digest"] == config.digest()  # the policy's own resolved config
    out = tmp_path / "cmp"
    code = main(
        ["compare", "--quiet", "--scenario", "ConvBusy-v1", "--num-requests", "16",
         "--policies", "fifo", "--seeds", "0", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    recorded = EnvConfig.build(json.loads((out / "config.json").read_text()))
    assert recorded.workload.num_requests == 16


@pytest.mark.parametrize("env_id", ["pecgym/LongMix-v1", "pecgym/LSMix-v1"])
def test_a_scenario_runs_on_a_user_given_trace(env_id: str, conv_trace_path: Path) -> None:
    """``workload={"source": PATH, ...}`` swaps in a trace; the scenario keeps its load
    transforms (rate scaling, long inputs, LS labels)."""
    from pecgym.benchmark import Scenario, evaluate

    trace = {"source": str(conv_trace_path), "duration": 20.0, "num_requests": 40}
    env = gym.make(env_id, workload=trace)
    config = env.unwrapped.config
    scenario = get_scenario(env_id).config()
    assert config.workload.source == str(conv_trace_path)
    assert config.workload.rate_scale == scenario.workload.rate_scale
    assert config.workload.ls_fraction == scenario.workload.ls_fraction
    env.reset(seed=config.seeds.test[0])
    assert env.unwrapped.core.sim.num_requests[0] == 40
    frame = evaluate(
        ["fifo"], Scenario.from_env_id(env_id, {"workload": trace}), [3], progress=False
    )
    assert frame["completed"].iloc[0] == 40 and frame["workload_source"].iloc[0] == str(
        conv_trace_path
    )
