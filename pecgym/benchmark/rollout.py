"""The one rollout loop: a policy on a batch of seeded episodes, through the env's actions.

Every caller that runs a policy (``compare``, ``evaluate``, the benchmark harness, the
training evaluation callback, the scripts) goes through :func:`rollout`. The N seeds are the
N envs of one batched :class:`~pecgym.envs.core.SchedCore`; every step, every live env takes
the policy's action, which the env validates and applies exactly as during training. Each
episode ends when its simulation does or when it reaches its step bound (reported
``step_capped`` and truncated), and yields one record: the simulator's episode summary, the
return, invalid actions, the policy's own counts (``unencodable``) and the config's digest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pecgym.envs.config import EnvConfig
from pecgym.envs.core import SchedCore, StepResult, step_bound
from pecgym.envs.policy import Policy, reads
from pecgym.sim.metrics import request_frame


@dataclass
class Rollout:
    """The episodes of one :func:`rollout`: one record per seed, in seed order, and (if
    asked) every request of every episode."""

    episodes: list[dict[str, Any]]
    requests: list[pd.DataFrame] = field(default_factory=list)


def step_limits(core: SchedCore, max_steps: int | None = None) -> np.ndarray:
    """Per env, the most steps its episode may take: ``max_steps``, or the env's own bound
    (:func:`~pecgym.envs.core.episode_step_bound`)."""
    if max_steps is not None:
        return np.full(core.num_envs, max_steps)
    return np.array([step_bound(core, env) for env in range(core.num_envs)])


def rollout(
    policy: Policy,
    config: EnvConfig,
    seeds: Sequence[int],
    *,
    max_steps: int | None = None,
    labels: dict[str, Any] | None = None,
    keep_requests: bool = False,
    on_progress: Callable[[int], None] | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    on_episode: Callable[[dict[str, Any]], None] | None = None,
) -> Rollout:
    """Run ``policy`` for one episode per seed of ``seeds`` on ``config``, all batched.

    ``labels`` (e.g. ``{"scenario": ..., "policy": ...}``) lead every record; by default
    ``{"policy": policy.name}``. ``on_progress(n)`` is called with the number of requests
    finished since its last call; ``on_step(result)`` with every step's
    :class:`~pecgym.envs.core.StepResult`; ``on_episode(record)`` with each episode's record
    as soon as it ends (so a caller can save it before the batch is done). A record's
    ``wall_time_s`` is the time from the batch's start to its episode's end.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("a rollout needs at least one seed")
    labels = {"policy": policy.name} if labels is None else dict(labels)
    n = len(seeds)
    core = SchedCore(n, config)
    started = time.perf_counter()
    core.reset_envs(range(n), seeds)
    if callable(getattr(policy, "bind", None)):
        policy.bind(core)
    sim = core.sim
    limits = step_limits(core, max_steps)
    live = ~sim.read("finished")
    returns = np.zeros(n)
    invalid = np.zeros(n, dtype=np.int64)
    records: list[dict[str, Any]] = [{} for _ in range(n)]
    frames: list[pd.DataFrame] = []
    counted = 0
    inputs = reads(policy)
    while True:
        ended = np.flatnonzero(live & (sim.read("finished") | (core.steps >= limits)))
        if ended.size:
            capped = ~sim.read("finished")[ended]
            returns[ended] += core.end_episodes(ended)
            for env, cap in zip(ended.tolist(), capped.tolist(), strict=True):
                records[env] = _record(core, env, policy, labels, seeds[env], cap)
                records[env]["return"] = float(returns[env])
                records[env]["invalid_actions"] = int(invalid[env])
                records[env]["wall_time_s"] = time.perf_counter() - started
                if keep_requests:
                    frame = request_frame(sim, env).reset_index()
                    frames.append(frame.assign(**labels, seed=seeds[env]))
                if on_episode is not None:
                    on_episode(records[env])
            live[ended] = False
        if on_progress is not None:
            done = int(np.where(live, sim.read("num_done"), sim.read("num_requests")).sum())
            on_progress(done - counted)
            counted = done
        if not live.any():
            break
        observation = core.observe() if "observation" in inputs else {}
        masks = core.action_masks() if "masks" in inputs else None
        actions = np.asarray(policy.act(observation, masks, core), np.int64)
        result = core.step(np.where(live, actions, 0))
        if on_step is not None:
            on_step(result)
        returns += np.where(live, result.reward, 0.0)
        invalid += result.invalid & live
    front = [*labels, "seed"]
    frames = [f[front + [c for c in f.columns if c not in front]] for f in frames]
    return Rollout(records, frames)


def _record(
    core: SchedCore, env: int, policy: Policy, labels: dict, seed: int, capped: bool
) -> dict[str, Any]:
    config = core.config
    record = {**labels, "seed": seed, **core.episode_metrics(env)}
    record["step_capped"] = capped
    record["unencodable"] = 0
    if callable(getattr(policy, "episode_stats", None)):
        record.update(policy.episode_stats(env))
    record.update(
        sp_method=config.cluster.sp_method,
        workload_source=config.workload.source,
        config_digest=config.digest(),
    )
    return record
