"""Drive a simulator directly with a rule's commands, without the env: the simulator's own
tests and speed benchmark use this. Policies act through the env's actions, driven by the
rollout loop (:func:`pecgym.benchmark.rollout.rollout`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import Op, Reject

Decide = Callable[[ClusterSim, np.ndarray], Commands]
"""A rule: the commands for the deciding envs (e.g. a heuristic's ``decide``)."""


def replay(sim: ClusterSim, decide: Decide) -> ClusterSim:
    """Run ``sim`` until every env's episode ends. An env stays at its decision point while
    ``decide``'s commands succeed, and moves on when it answers NOOP or an invalid command."""
    sim.advance()
    while not sim.done:
        deciding = np.flatnonzero(sim.at_decision & ~sim.finished)
        if deciding.size:
            commands = decide(sim, deciding)
            rejected = sim.apply(commands)
            idle = (commands.op == Op.NOOP) | (rejected != Reject.OK)
            moving = commands.env[idle | ~sim.at_decision[commands.env]]
        else:
            moving = np.flatnonzero(~sim.finished)
        sim.advance(moving)
    return sim
