"""Training callbacks (imports stable-baselines3: load it only when training)."""

from __future__ import annotations

import math
from collections.abc import Sequence

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
