"""Training callbacks (imports stable-baselines3: load it only when training)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from stable_baselines3.common.callbacks import BaseCallback

EPISODE_METRICS = (
    "objective",
    "objective.unfinished",
    "slowdown.mean",
    "ttft.p50",
    "ttft.p99",
    "queueing_delay.short.p50",
    "queueing_delay.short.p99",
    "queueing_delay.long.p99",
    "jct.mean",
    "jct.p99",
    "throughput_rps",
    "short_throughput_rps",
    "slo_attainment",
    "starvation_rate",
    "gpu_idle_rate",
    "completed",
    "unfinished",
    "steps",
    "long_prefill_preemptions",
    "kv_evictions",
)
"""Keys of ``info["episode_metrics"]`` logged by default."""


def metric_tag(key: str, prefix: str = "episode") -> str:
    """The logger tag of a metric: ``ttft.p50`` -> ``episode/ttft_p50``."""
    return f"{prefix}/{key.replace('.', '_')}"


class EpisodeMetricsCallback(BaseCallback):
    """Log the simulator's summary of each finished episode (``info["episode_metrics"]``).

    Values are averaged over the episodes that end between two logger dumps (SB3 dumps once
    per rollout) with ``logger.record_mean``; NaN values (e.g. no long request in the
    episode) are skipped.
    """

    def __init__(
        self, keys: Sequence[str] = EPISODE_METRICS, prefix: str = "episode", verbose: int = 0
    ) -> None:
        super().__init__(verbose)
        self.keys = tuple(keys)
        self.prefix = prefix
        self.episodes = 0

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            metrics = info.get("episode_metrics")
            if metrics is None:
                continue
            self.episodes += 1
            for key in self.keys:
                value = metrics.get(key)
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    continue
                self.logger.record_mean(metric_tag(key, self.prefix), float(value))
            self.logger.record(f"{self.prefix}/episodes_total", self.episodes)
        return True


EVAL_METRICS = (
    "objective",
    "queueing_delay.short.p99",
    "jct.long.mean",
    "starvation_rate",
    "slo_attainment",
    "completed",
    "unfinished",
    "steps",
)
"""Metrics of the evaluation episodes logged under ``eval/`` (means over the seeds)."""


class SchedEvalCallback(BaseCallback):
    """Every ``every`` env steps, run the current policy deterministically on ``seeds``
    with the rollout loop, log the scheduling metrics under ``eval/``, append them to
    :attr:`history`, and save the model with the lowest objective to ``best_path``.

    ``at_start`` also evaluates before the first update (the warm-started policy).
    """

    def __init__(
        self,
        config: Any,
        seeds: Sequence[int],
        every: int,
        *,
        best_path: str | Path | None = None,
        at_start: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.config = config
        self.seeds = list(seeds)
        self.every = every
        self.best_path = None if best_path is None else Path(best_path)
        self.at_start = at_start
        self.history: list[dict[str, float]] = []
        self.best = math.inf
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = self.num_timesteps + (0 if self.at_start else self.every)
        if self.at_start:
            self.evaluate()
            self.logger.dump(self.num_timesteps)

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next + self.every:
            self.evaluate()
        return True

    def evaluate(self) -> dict[str, float]:
        """Evaluate now; returns the means logged."""
        from pecgym.agents.policy import AgentPolicy
        from pecgym.benchmark.rollout import rollout

        self._next = self.num_timesteps
        started = time.perf_counter()
        done = rollout(AgentPolicy(self.model), self.config, self.seeds)
        frame = pd.DataFrame(done.episodes)
        row = {"timesteps": float(self.num_timesteps)}
        for key in EVAL_METRICS:
            if key in frame:
                value = float(frame[key].mean())
                row[key] = value
                if not math.isnan(value):
                    self.logger.record(metric_tag(key, "eval"), value)
        row["seconds"] = time.perf_counter() - started
        self.history.append(row)
        if row["objective"] < self.best:
            self.best = row["objective"]
            if self.best_path is not None:
                self.best_path.parent.mkdir(parents=True, exist_ok=True)
                self.model.save(self.best_path)
        self.logger.record("eval/best_objective", self.best)
        if self.verbose:
            print(
                f"eval at {self.num_timesteps} steps: objective {row['objective']:.4g} "
                f"(best {self.best:.4g}), completed {row.get('completed', 0):.1f}"
            )
        return row
