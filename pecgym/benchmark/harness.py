"""One evaluation harness for every policy: same scenario, same seeds, through env actions.

A :class:`Scenario` is a named, resolved :class:`~pecgym.envs.config.EnvConfig`;
:func:`run_evaluation` runs each policy (a registered heuristic name, ``agent:NAME`` or
``agent:PATH.zip`` for a learned agent, or any :class:`~pecgym.envs.policy.Policy`) on the
scenario's held-out seeds with the one rollout loop (:func:`pecgym.benchmark.rollout.rollout`),
the seeds batched as envs. Results are data: one row per (policy, seed) with the simulator's
episode summary (:func:`pecgym.sim.metrics.summarize`), and optionally every request.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from pecgym import baselines
from pecgym.benchmark.rollout import rollout
from pecgym.envs.config import EnvConfig
from pecgym.envs.policy import Policy, policy_env_overrides
from pecgym.envs.scenarios import get_scenario


@dataclass(frozen=True)
class Scenario:
    """A named benchmark setting, as data: a resolved :class:`EnvConfig` and a description.

    Attributes:
        name: identifier used in result tables and file names.
        config: the env configuration every policy runs on (a policy's ``env_overrides``
            are deep-merged on top: :meth:`env_config`).
        description: what the scenario shows and why it is set up so.
        max_steps: cap on env steps per episode; by default the env's own bound
            (:func:`~pecgym.envs.core.episode_step_bound`). An episode that reaches it is
            ended and reported truncated (``step_capped``).
    """

    name: str
    config: EnvConfig
    description: str = ""
    max_steps: int | None = None

    @classmethod
    def from_env_id(cls, env_id: str, *layers: Mapping[str, Any] | None) -> Scenario:
        """The scenario of a registered env id (``"pecgym/ConvBusy-v1"``), with overrides."""
        spec = get_scenario(env_id)
        return cls(spec.name, spec.config(*layers), spec.description)

    @property
    def workload(self):
        """The workload recipe (:class:`~pecgym.traces.spec.WorkloadSpec`)."""
        return self.config.workload

    @property
    def test_seeds(self) -> list[int]:
        """The held-out seeds of the scenario."""
        return self.config.seeds.test_seeds()

    def env_config(self, policy: Any = None) -> EnvConfig:
        """The config ``policy`` runs on: the scenario's, then the policy's overrides."""
        return self.config.merged(policy_env_overrides(policy))

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def merged(self, *layers: Mapping[str, Any] | None) -> Scenario:
        """A copy with settings deep-merged into its config."""
        return self.replace(config=self.config.merged(*layers))

    def with_workload(self, **changes: Any) -> Scenario:
        """A copy with some workload settings changed (e.g. ``source``)."""
        return self.merged({"workload": changes})

    def with_cluster(self, **changes: Any) -> Scenario:
        """A copy with some cluster settings changed."""
        return self.merged({"cluster": changes})


@dataclass
class Evaluation:
    """Results of :func:`run_evaluation`: per (policy, seed) summaries and per request rows."""

    summary: pd.DataFrame
    requests: pd.DataFrame | None = None


PolicyLike = str | Policy

AGENT_PREFIX = "agent:"


def resolve_policy(policy: PolicyLike) -> Policy:
    """A policy object from a spec: a registered heuristic (``"sjf"``), or ``"agent:NAME"``
    (a shipped agent) / ``"agent:PATH.zip"`` (a saved one); objects pass through."""
    if not isinstance(policy, str):
        if not callable(getattr(policy, "act", None)):
            raise TypeError(f"{policy!r} is not a policy: it has no act(observation, masks, core)")
        return policy
    if policy.startswith(AGENT_PREFIX):
        from pecgym.agents.zoo import load_policy

        return load_policy(policy[len(AGENT_PREFIX) :])
    return baselines.get(policy)


def run_evaluation(
    policies: Sequence[PolicyLike],
    scenario: Scenario,
    seeds: Sequence[int] | None = None,
    *,
    requests: bool = False,
    progress: bool = True,
    workers: int = 1,
) -> Evaluation:
    """Run every policy on ``scenario`` for every seed (default: its test seeds), the seeds
    batched as envs.

    Returns per (policy, seed) rows (policy order, then seed order) and, with ``requests``,
    one row per request of every episode (columns ``policy``, ``seed`` first). With
    ``workers > 1`` policies run in that many processes (policies must be picklable, e.g.
    registered names); the progress bar then counts finished policies.
    """
    seeds = scenario.test_seeds if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("evaluate needs at least one seed")
    resolved = [resolve_policy(p) for p in policies]
    results: list[tuple[list[dict], list[pd.DataFrame]]] = []
    if workers > 1 and len(resolved) > 1:
        jobs = [p if isinstance(p, str) else r for p, r in zip(policies, resolved, strict=True)]
        bar = tqdm(total=len(jobs), unit="policy", desc=scenario.name, disable=not progress)
        with process_pool(workers) as pool:
            futures = [pool.submit(_run_detached, p, scenario, seeds, requests) for p in jobs]
            for _ in as_completed(futures):
                bar.update(1)
            results = [future.result() for future in futures]
        bar.close()
    else:
        total = len(resolved) * sum(len(scenario.workload.build(s)) for s in seeds)
        bar = tqdm(total=total, unit="req", desc=scenario.name, disable=not progress)
        try:
            for policy in resolved:
                bar.set_postfix_str(policy.name)
                results.append(_run_one(policy, scenario, seeds, bar, requests))
        finally:
            bar.close()
    rows = [row for policy_rows, _ in results for row in policy_rows]
    frames = [frame for _, policy_frames in results for frame in policy_frames]
    summary = pd.DataFrame(rows)
    return Evaluation(summary, pd.concat(frames, ignore_index=True) if frames else None)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` fresh processes. Spawned, not forked: a fork of a process that
    has run torch (an agent loaded to check it) inherits its thread pools' locks, and the
    child hangs in its first parallel torch call."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _run_detached(
    policy: PolicyLike, scenario: Scenario, seeds: list[int], keep_requests: bool
) -> tuple[list[dict], list[pd.DataFrame]]:
    """:func:`_run_one` in a worker process (no progress bar)."""
    return _run_one(resolve_policy(policy), scenario, seeds, None, keep_requests)


def evaluate(
    policies: Sequence[PolicyLike],
    scenario: Scenario,
    seeds: Sequence[int] | None = None,
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per (policy, seed) with the episode summary metrics (see :func:`run_evaluation`)."""
    return run_evaluation(policies, scenario, seeds, progress=progress).summary


def _run_one(
    policy: Policy,
    scenario: Scenario,
    seeds: list[int],
    bar: tqdm | None,
    keep_requests: bool,
) -> tuple[list[dict], list[pd.DataFrame]]:
    try:
        done = rollout(
            policy,
            scenario.env_config(policy),
            seeds,
            max_steps=scenario.max_steps,
            labels={"scenario": scenario.name, "policy": policy.name},
            keep_requests=keep_requests,
            on_progress=None if bar is None else bar.update,
        )
    except ValueError as error:
        raise ValueError(f"scenario {scenario.name!r}, policy {policy.name!r}: {error}") from None
    return done.episodes, done.requests


EPISODE_COLUMNS = (
    "scenario",
    "policy",
    "seed",
    "objective_name",
    "objective",
    "objective.cost",
    "objective.unfinished",
    "return",
    "requests",
    "completed",
    "unfinished",
    "not_arrived",
    "truncated",
    "step_capped",
    "steps",
    "sim_time",
    "invalid_actions",
    "unencodable",
    "queueing_delay.short.p99",
    "slowdown.mean",
    "ttft.p99",
    "jct.long.mean",
    "starvation_rate",
    "slo_attainment",
    "gpu_idle_rate",
    "config_digest",
    "workload_source",
    "wall_time_s",
)
"""The columns a compact per-episode record keeps (of the ~140 of a full summary)."""

TABLE_METRICS: dict[str, str] = {
    "objective": "objective",
    "completed": "completed",
    "unfinished": "unfinished",
    "queueing_delay.short.p50": "short queueing p50 (s)",
    "queueing_delay.short.p99": "short queueing p99 (s)",
    "short_throughput_rps": "short throughput (req/s)",
    "jct.long.mean": "long JCT mean (s)",
    "jct.long.p99": "long JCT p99 (s)",
    "long_prefill_preemptions": "long prefill preemptions",
    "starvation_rate": "starvation rate",
    "gpu_idle_rate": "GPU idle rate",
    "ttft.ls.mean": "LS TTFT mean (s)",
    "slo_attainment": "LS SLO attainment",
}
"""The comparison table's metrics (summary keys) and their display names."""

CLASS_METRICS = ("ttft.ls.mean", "slo_attainment")
"""Table metrics shown only when the workload has LS/BE classes."""


def comparison_table(summary: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Per policy (in first-seen order), the mean over seeds of the table's metrics.

    Columns are summary keys (see :data:`TABLE_METRICS`, then ``extra``); LS metrics appear
    only when the workload has LS/BE classes; ``completed`` and ``unfinished`` always. Also
    ``seeds``, ``invalid_actions`` and ``unencodable`` (summed) and ``truncated`` (episodes).
    """
    labelled = "ttft.ls.mean" in summary and summary["ttft.ls.mean"].notna().any()
    keys = [k for k in TABLE_METRICS if k in summary and (labelled or k not in CLASS_METRICS)]
    keys += [k for k in extra if k in summary and k not in keys]
    grouped = summary.groupby("policy", sort=False)
    table = grouped[keys].mean()
    table["seeds"] = grouped.size()
    for key in ("invalid_actions", "unencodable", "truncated"):
        if key in summary:
            table[key] = grouped[key].sum()
    return table
