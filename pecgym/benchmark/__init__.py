"""Benchmark harness: scenarios as data, every policy through the env's actions, results as data."""

from pecgym.benchmark.harness import (
    TABLE_METRICS,
    Evaluation,
    Scenario,
    comparison_table,
    evaluate,
    run_evaluation,
)

__all__ = [
    "TABLE_METRICS",
    "Evaluation",
    "Scenario",
    "comparison_table",
    "evaluate",
    "run_evaluation",
]
