"""The policy protocol and the loop that runs a policy on a simulator until it finishes."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import Op, Reject


class Policy(Protocol):
    """A scheduling policy: one command for each env that is at a decision point."""

    name: str

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        """Commands for ``envs`` (indices of envs at a decision point)."""
        ...


def run_policy(sim: ClusterSim, policy: Policy, *, progress: bool = False) -> ClusterSim:
    """Drive ``sim`` with ``policy`` until every env's episode ends; returns ``sim``.

    An env stays at its decision point while the policy's commands succeed, and moves on
    to the next decision when the policy answers NOOP (or an invalid command).
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
