"""The shipped agents: every one loads by name, carries its card, and serves its scenario."""

from __future__ import annotations

import pytest

pytest.importorskip("sb3_contrib")

from pecgym.agents.zoo import ZOO_DIR, agent_card, load_policy, names
from pecgym.benchmark import Scenario, run_evaluation

SHIPPED = ("code-bursty", "conv-busy", "long-mix", "ls-mix")


def test_every_benchmark_scenario_has_a_shipped_agent_with_its_card() -> None:
    assert tuple(names()) == SHIPPED
    total = sum((ZOO_DIR / f"{name}.zip").stat().st_size for name in SHIPPED)
    assert total < 20 * 2**20  # a few MB in all
    for name in SHIPPED:
        card = agent_card(name)
        assert card["name"] == name and card["env_id"].startswith("pecgym/")
        assert card["budget"]["seconds"]["total"] < 30 * 60  # the 30-minute budget
        assert card["recipe"]["imitation"]["teacher"] in card["test"]["mean_ci95"]
        assert (ZOO_DIR / f"{name}_eval.csv").exists()
        policy = load_policy(name)
        assert policy.name == f"agent:{name}" and policy.meta["env_id"] == card["env_id"]


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_agent_serves_every_request_on_its_scenario(name: str) -> None:
    policy = load_policy(name)
    scenario = Scenario.from_env_id(policy.meta["env_id"], {"workload": {"num_requests": 48}})
    frame = run_evaluation([policy], scenario, [1_000_000], progress=False).summary
    row = frame.iloc[0]
    assert row["policy"] == f"agent:{name}"
    assert row["completed"] == 48 and not row["truncated"] and row["invalid_actions"] == 0
