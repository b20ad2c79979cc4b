"""Running a leaderboard: plan the missing episodes, run them batched, record each at once.

A job is one policy on one scenario for the seeds not yet recorded, batched as the envs of
one vector env (:func:`~pecgym.benchmark.rollout.rollout`). Jobs run in this process
(each episode appended to ``episodes.csv`` as it ends), over local processes
(``workers``), or over a Ray cluster (``ray_address``); in the last two a job's episodes are
appended when the job ends. Ctrl-C stops the run with everything finished kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from pecgym import __version__
from pecgym.benchmark.harness import Scenario, process_pool
from pecgym.benchmark.leaderboard.entries import Entry, fitting_scenarios
from pecgym.benchmark.leaderboard.records import EpisodeLog, save_config
from pecgym.benchmark.rollout import rollout


@dataclass(frozen=True)
class Job:
    """One policy on one scenario for some of its seeds (run as one batch)."""

    suite: str
    entry: Entry
    scenario: Scenario
    seeds: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"{self.entry.name} on {self.scenario.name}"


def plan(
    suite: str,
    entries: Sequence[Entry],
    scenarios: Sequence[Scenario],
    folder: str | Path,
    *,
    batch: bool = True,
) -> list[Job]:
    """The jobs that complete ``folder``'s records for ``entries`` on ``scenarios``.

    Checks everything before any work: each policy resolves and fits at least one scenario,
    and what ``folder`` already holds for a (policy, scenario) ran on the same config and
    the same agent file (else the folder belongs to another run: a ``ValueError``). Saves
    each config the jobs run on (``configs/<digest>.json``). Random jobs (the longest) come
    first, then agents, then heuristics. ``batch=False`` makes one job per seed (to measure
    what batching saves).
    """
    recorded = EpisodeLog(folder).load()
    recorded = recorded[recorded["suite"] == suite]
    jobs = []
    for entry in entries:
        policy = entry.resolve()
        fits = fitting_scenarios(policy, scenarios)
        if not fits:
            known = ", ".join(s.name for s in scenarios)
            raise ValueError(
                f"policy {entry.name!r} fits no scenario of suite {suite} ({known}): its "
                "observation or action space differs from every one"
            )
        for scenario in fits:
            digest = save_config(folder, scenario.env_config(policy))
            rows = recorded[
                (recorded["policy"] == entry.name) & (recorded["scenario"] == scenario.name)
            ]
            _check_same_run(rows, entry, scenario.name, digest, folder)
            done = set(rows["seed"])
            missing = tuple(s for s in scenario.test_seeds if s not in done)
            groups = [missing] if batch else [(seed,) for seed in missing]
            jobs += [Job(suite, entry, scenario, seeds) for seeds in groups if seeds]
    order = {"random": 0, "agent": 1}
    return sorted(jobs, key=lambda job: order.get(job.entry.kind, 2))


def _check_same_run(
    rows: pd.DataFrame, entry: Entry, scenario: str, digest: str, folder: str | Path
) -> None:
    for column, expected, what in (
        ("pecgym_version", __version__, "another pecgym version (its simulator may differ)"),
        ("config_digest", digest, "a different config (another pecgym version or trace?)"),
        ("policy_digest", entry.digest, "a different agent file or pecgym version"),
    ):
        found = set(rows[column].astype(str))
        if found - {expected}:
            raise ValueError(
                f"{folder} holds {entry.name} on {scenario} run with {what}: recorded "
                f"{', '.join(sorted(found))}, now {expected}; use a new --out folder"
            )


def run_job(job: Job, on_episode: Callable[[dict], None] | None = None, on_progress=None):
    """Run one job; returns its records (each also passed to ``on_episode`` as it ends)."""
    policy = job.entry.resolve()
    config = job.scenario.env_config(policy)
    extra = {
        "policy_spec": job.entry.spec,
        "policy_digest": job.entry.digest,
        "pecgym_version": __version__,
        "max_steps": job.scenario.max_steps,
        "batch_size": len(job.seeds),
    }

    def finish(record: dict[str, Any]) -> None:
        record.update(extra)
        if on_episode is not None:
            on_episode(record)

    try:
        done = rollout(
            policy,
            config,
            job.seeds,
            max_steps=job.scenario.max_steps,
            labels={"suite": job.suite, "scenario": job.scenario.name, "policy": job.entry.name},
            on_episode=finish,
            on_progress=on_progress,
        )
    except ValueError as error:
        raise ValueError(f"{job.label}: {error}") from None
    return done.episodes


def execute(
    jobs: Sequence[Job],
    folder: str | Path,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
    progress: bool = True,
) -> int:
    """Run ``jobs``, appending their episodes to ``folder``'s log; returns how many episodes
    were recorded. Ctrl-C (``KeyboardInterrupt``) propagates after the finished ones are."""
    log = EpisodeLog(folder)
    if not jobs:
        return 0
    if use_ray:
        return _run_ray(jobs, log, ray_address, progress)
    if workers > 1 and len(jobs) > 1:
        return _run_processes(jobs, log, workers, progress)
    return _run_here(jobs, log, progress)


def _run_here(jobs: Sequence[Job], log: EpisodeLog, progress: bool) -> int:
    total = sum(len(job.scenario.workload.build(s)) for job in jobs for s in job.seeds)
    written = 0
    with tqdm(total=total, unit="req", desc="leaderboard", disable=not progress) as bar:
        for job in jobs:
            bar.set_postfix_str(job.label)

            def save(record: dict) -> None:
                nonlocal written
                written += log.append([record])

            run_job(job, on_episode=save, on_progress=bar.update)
    return written


def _run_processes(jobs: Sequence[Job], log: EpisodeLog, workers: int, progress: bool) -> int:
    written = 0
    with tqdm(total=len(jobs), unit="job", desc="leaderboard", disable=not progress) as bar:
        pool = process_pool(workers)
        try:
            futures = {pool.submit(run_job, job): job for job in jobs}
            for future in as_completed(futures):
                written += log.append(future.result())
                bar.set_postfix_str(futures[future].label)
                bar.update(1)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return written


def _run_ray(jobs: Sequence[Job], log: EpisodeLog, address: str | None, progress: bool) -> int:
    ray = import_ray()
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(run_job)
    pending = {remote.remote(job): job for job in jobs}
    written = 0
    with tqdm(total=len(jobs), unit="job", desc="leaderboard (ray)", disable=not progress) as bar:
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job = pending.pop(ref)
                    written += log.append(ray.get(ref))
                    bar.set_postfix_str(job.label)
                    bar.update(1)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    return written


def import_ray():
    """The ``ray`` module, or a clear error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'pecgym[ray]'") from None
    return ray
