"""Policy protocols and the loop that runs a Commands-level policy directly on a simulator.

Two kinds of policies act on pecgym, and the benchmark harness runs both through the env's
actions (:mod:`pecgym.benchmark.harness`):

* :class:`Policy` (heuristics): reads the full simulator state and answers simulator
  :class:`Commands` for the deciding envs; the harness encodes them as env actions with
  :meth:`pecgym.envs.core.SchedCore.encode`.
* :class:`ActionPolicy` (random, learned agents): maps the env's observation and per-field
  action masks to actions, like any Gymnasium agent.

Either may carry ``env_overrides``: settings (nested, as :class:`pecgym.envs.EnvConfig`
takes them) the harness deep-merges on top of the scenario's, e.g. the queue views a
heuristic reads (``{"observation": {...}}``), a cluster setting an ablation declares
(``{"cluster": {"sp_method": "ring"}}``), or the observation layout an agent was trained
with.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import Op, Reject


@runtime_checkable
class Policy(Protocol):
    """A scheduling policy: one command for each env that is at a decision point."""

    name: str

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        """Commands for ``envs`` (indices of envs at a decision point)."""
        ...


@runtime_checkable
class ActionPolicy(Protocol):
    """An env-level policy: batched observation and action masks in, batched actions out.

    ``obs`` is the env's observation dict with a leading env axis, ``masks`` is
    ``(N, num_actions)`` (see :meth:`pecgym.envs.core.SchedCore.action_masks`) and the
    result is an integer array ``(N,)`` of action indices. An optional ``bind(core)`` method
    is called once before each run with the :class:`~pecgym.envs.core.SchedCore` (action
    layout, episode seeds).
    """

    name: str

    def act(self, obs: dict[str, np.ndarray], masks: np.ndarray) -> np.ndarray:
        """Actions for every env of the batch."""
        ...


def policy_env_overrides(policy: Any) -> dict:
    """The env settings a policy asks for (empty if it declares none)."""
    return dict(getattr(policy, "env_overrides", None) or {})


def run_policy(sim: ClusterSim, policy: Policy, *, progress: bool = False) -> ClusterSim:
    """Drive ``sim`` directly with a Commands-level ``policy`` until every env's episode ends.

    A shortcut for simulator tests and profiling; benchmarks go through the env's actions
    (:func:`pecgym.benchmark.evaluate`). An env stays at its decision point while the
    policy's commands succeed, and moves on when the policy answers NOOP (or an invalid
    command).
    """
    total = int(sim.num_requests.sum())
    bar = tqdm(total=total, unit="req", desc=policy.name, disable=not progress, leave=False)
    sim.advance()
    while not sim.done:
        deciding = np.flatnonzero(sim.at_decision & ~sim.finished)
        if deciding.size:
            commands = policy.decide(sim, deciding)
            rejected = sim.apply(commands)
            idle = (commands.op == Op.NOOP) | (rejected != Reject.OK)
            moving = commands.env[idle | ~sim.at_decision[commands.env]]
        else:
            moving = np.flatnonzero(~sim.finished)
        sim.advance(moving)
        bar.update(int(sim.num_done.sum()) - bar.n)
    bar.close()
    return sim
