"""Benchmark harness: scenarios as data, every policy through the env's actions, results as data."""

from pecgym.benchmark.harness import (
    TABLE_METRICS,
    Evaluation,
    Scenario,
    comparison_table,
    evaluate,
    run_evaluation,
)
from pecgym.benchmark.rollout import Rollout, rollout

__all__ = [
    "TABLE_METRICS",
    "Evaluation",
    "Rollout",
    "Scenario",
    "comparison_table",
    "evaluate",
    "rollout",
    "run_evaluation",
]
