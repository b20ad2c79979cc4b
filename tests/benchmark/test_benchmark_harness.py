"""The evaluation harness: same workloads and seeds for every policy, through env actions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pecgym import baselines
from pecgym.benchmark import Scenario, comparison_table, evaluate, run_evaluation
from pecgym.benchmark.harness import CLASS_METRICS, TABLE_METRICS, resolve_policy
from pecgym.envs.config import EnvConfig
from pecgym.envs.core import SchedCore
from pecgym.envs.policy import Policy

SMALL = Scenario(
    "small",
    EnvConfig.build(
        {
            "workload": {"num_requests": 60, "rate_scale": 4.0, "long_fraction": 0.05},
            "cluster": {"model": "mistral-7b", "num_instances": 8},
        }
    ),
)
LABELLED = SMALL.with_workload(ls_fraction=0.3).replace(name="labelled")


class OldestFirstAgent:
    """A stand-in for a learned agent: sees only observations and masks. It starts the
    first queue row the masks allow with auto placement (FIFO-like through the "oldest"
    view), else waits."""

    name = "oldest-first-agent"

    def __init__(self) -> None:
        self.auto_starts: np.ndarray | None = None

    def bind(self, core: SchedCore) -> None:
        layout = core.layout
        self.auto_starts = layout.start(np.arange(layout.queue_rows), 0, 0)

    def act(self, obs: dict[str, np.ndarray], masks: np.ndarray, core: SchedCore) -> np.ndarray:
        assert self.auto_starts is not None
        allowed = masks[:, self.auto_starts]
        first = self.auto_starts[allowed.argmax(axis=1)]
        return np.where(allowed.any(axis=1), first, 0)


def test_one_row_per_policy_and_seed_with_summary_metrics() -> None:
    frame = evaluate(["fifo", "pecsched"], SMALL, [3, 4], progress=False)
    assert list(zip(frame["policy"], frame["seed"], strict=True)) == [
        ("fifo", 3),
        ("fifo", 4),
        ("pecsched", 3),
        ("pecsched", 4),
    ]
    plain = [k for k in TABLE_METRICS if k not in CLASS_METRICS]
    for key in (*plain, "invalid_actions", "unencodable", "steps", "wall_time_s"):
        assert key in frame, key
    assert (frame["completed"] == frame["requests"]).all()
    assert (frame["invalid_actions"] == 0).all() and (frame["unencodable"] == 0).all()
    # same workload per seed for both policies
    assert (
        frame.groupby("seed")["requests"].nunique().eq(1).all()
        and frame.groupby("seed")["state.done"].nunique().eq(1).all()
    )


def test_batched_seeds_equal_seeds_run_alone() -> None:
    batched = evaluate(["pecsched"], SMALL, [0, 1], progress=False)
    alone = evaluate(["pecsched"], SMALL, [1], progress=False)
    skip = {"wall_time_s"}
    left, right = batched.iloc[1], alone.iloc[0]
    for key in batched.columns:
        if key in skip:
            continue
        a, b = left[key], right[key]
        assert (pd.isna(a) and pd.isna(b)) or a == b, key


def test_requests_of_every_episode_are_returned() -> None:
    result = run_evaluation(["fifo", "sjf"], SMALL, [0], requests=True, progress=False)
    requests = result.requests
    assert list(requests.columns[:3]) == ["scenario", "policy", "seed"]
    assert len(requests) == 2 * result.summary["requests"].iloc[0]
    fifo, sjf = (requests[requests["policy"] == p] for p in ("fifo", "sjf"))
    np.testing.assert_array_equal(fifo["arrival"], sjf["arrival"])  # the same workload


def test_an_action_level_agent_plugs_in() -> None:
    agent = OldestFirstAgent()
    assert isinstance(agent, Policy) and isinstance(baselines.get("fifo"), Policy)
    frame = evaluate([agent, "fifo"], SMALL, [0], progress=False)
    mine = frame.iloc[0]
    assert mine["policy"] == agent.name and mine["invalid_actions"] == 0
    assert mine["completed"] == mine["requests"] and not mine["truncated"]
    assert mine["return"] == pytest.approx(-mine["objective"], rel=1e-6)


def test_random_runs_through_masks_and_a_step_cap_truncates() -> None:
    capped = SMALL.replace(max_steps=50)
    frame = evaluate(["random"], capped, [0, 1], progress=False)
    assert (frame["steps"] == 50).all() and (frame["invalid_actions"] == 0).all()
    assert frame["truncated"].all() and frame["step_capped"].all()
    assert (frame["completed"] < frame["requests"]).all()
    # the unfinished requests are charged: the return is minus the objective
    np.testing.assert_allclose(frame["return"], -frame["objective"], rtol=1e-6)
    assert (frame["objective.unfinished"] > 0).all()
    again = evaluate(["random"], capped, [0, 1], progress=False)
    pd.testing.assert_frame_equal(
        frame.drop(columns="wall_time_s"), again.drop(columns="wall_time_s")
    )


def test_policy_env_overrides_override_the_scenario() -> None:
    ring = SMALL.with_cluster(sp_method="ring")
    frame = evaluate(["fifo", "pecsched", "pecsched-no-fastsp"], ring, [0], progress=False)
    assert list(frame["sp_method"]) == ["ring", "ulysses", "ring"]


def test_comparison_table_shows_class_metrics_only_with_classes() -> None:
    plain = comparison_table(evaluate(["fifo"], SMALL, [0, 1], progress=False))
    assert "ttft.ls.mean" not in plain and "slo_attainment" not in plain
    assert plain.loc["fifo", "seeds"] == 2
    labelled = comparison_table(evaluate(["qllm", "fcfs"], LABELLED, [0], progress=False))
    assert {"ttft.ls.mean", "slo_attainment"} <= set(labelled.columns)
    assert list(labelled.index) == ["qllm", "fcfs"]


def test_unknown_policies_and_objects_without_an_interface_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        evaluate(["nope"], SMALL, [0], progress=False)
    with pytest.raises(TypeError, match="not a policy"):
        resolve_policy(object())
    with pytest.raises(ValueError, match="no agent"):
        resolve_policy("agent:nowhere.zip")
    with pytest.raises(ValueError, match="seed"):
        evaluate(["fifo"], SMALL, [], progress=False)


def test_every_registered_baseline_runs_with_no_invalid_action() -> None:
    names = [n for n in baselines.names() if n != "random"]
    frame = evaluate(names, LABELLED, [0], progress=False)
    assert (frame["completed"] == frame["requests"]).all()
    assert (frame["invalid_actions"] == 0).all(), frame[["policy", "invalid_actions"]]
    assert (frame["unencodable"] == 0).all(), frame[["policy", "unencodable"]]
