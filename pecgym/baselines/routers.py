"""Routers that bind each request to an instance when it arrives, as Vidur and
Splitwise-sim dispatch: round robin (``rr``) and least outstanding requests (``lor``).

Each instance then serves the requests bound to it first come, first served: its oldest
bound request starts as soon as the instance runs no prefill and has room for the request's
KV (a request too long for one instance takes the sequence-parallel group that starts at its
instance, shifted left to fit). Nothing is preempted or migrated. These are the dispatch
rules of the peer simulators, so comparisons with them can use the same dispatch; pecgym's
own FIFO binds late instead (a request waits in one global queue for any free instance).
"""

from __future__ import annotations

import numpy as np

from pecgym.baselines.base import Heuristic
from pecgym.baselines.common import HEURISTIC_ENV, CommandBuilder, Snapshot, first_true, place
from pecgym.sim.simulator import ClusterSim, Commands
from pecgym.sim.state import DONE, PENDING

ROUTER_ENV: dict = {
    "observation": {**HEURISTIC_ENV["observation"], "queue_views": ("oldest",), "view_size": 1024}
}
"""The heuristics' layout with one deep oldest-first view: an instance's oldest bound request
may sit behind long queues of the other instances (a long prefill blocks its instance's
queue while arrivals keep being bound to it)."""


class Router(Heuristic):
    """Bind at arrival (:meth:`bound`), then serve each instance's bound requests FCFS."""

    env_overrides = ROUTER_ENV

    def bound(self, sim: ClusterSim, envs: np.ndarray, win: slice) -> np.ndarray:
        """``(len(envs), len(win))`` instance each request of the window is bound to."""
        raise NotImplementedError

    def decide(self, sim: ClusterSim, envs: np.ndarray) -> Commands:
        snap, out = Snapshot(sim, envs), CommandBuilder(sim, envs)
        bound = self.bound(sim, envs, snap.win)
        instances = np.arange(sim.num_instances)
        # per env and instance, the instance's oldest queued bound request
        mine = snap.queued[:, None, :] & (bound[:, None, :] == instances[None, :, None])
        heads = first_true(mine.reshape(-1, mine.shape[2]), snap.start).reshape(mine.shape[:2])
        rows, inst = np.nonzero(heads >= 0)
        if not rows.size:
            return out.result()
        req = heads[rows, inst]
        k = sim.sp_degree_for(sim.read("prefill_len")[envs[rows], req])
        lo = np.minimum(inst, sim.num_instances - k)
        allowed = (instances >= lo[:, None]) & (instances < (lo + k)[:, None])
        start, n = place(sim, envs[rows], req, allowed=allowed)
        # the oldest head that can start now, per env
        never = np.iinfo(np.int64).max
        ok = start >= 0
        startable = np.full(heads.shape, never)
        startable[rows[ok], inst[ok]] = req[ok]
        pick = startable.argmin(axis=1)
        every = np.arange(envs.size)
        at = np.full(heads.shape, -1)
        at[rows, inst] = start
        size = np.ones(heads.shape, dtype=np.int64)
        size[rows, inst] = n
        chosen = startable[every, pick]
        out.start(chosen < never, chosen, at[every, pick], size[every, pick])
        return out.result()


class RoundRobinRouter(Router):
    """Request ``r`` (in arrival order) goes to instance ``r mod I``."""

    name = "rr"

    def bound(self, sim: ClusterSim, envs: np.ndarray, win: slice) -> np.ndarray:
        index = np.arange(win.start, win.stop)
        return np.broadcast_to(index % sim.num_instances, (envs.size, index.size))


class LeastOutstandingRouter(Router):
    """A request goes, when it arrives, to the instance with the fewest requests bound to it
    and not yet done (lowest index on ties). The bindings live in the policy for the
    rollout it is bound to (:meth:`bind`)."""

    name = "lor"

    def bind(self, core) -> None:
        super().bind(core)
        self._binding = np.full(core.sim.read("arrival").shape, -1, dtype=np.int64)

    def bound(self, sim: ClusterSim, envs: np.ndarray, win: slice) -> np.ndarray:
        binding = getattr(self, "_binding", None)
        if binding is None or binding.shape != sim.read("arrival").shape:
            grown = np.full(sim.read("arrival").shape, -1, dtype=np.int64)
            if binding is not None:
                grown[: binding.shape[0], : binding.shape[1]] = binding
            self._binding = binding = grown
        state = sim.read("state")[envs, win]
        mine = binding[envs, win]
        rows = np.arange(envs.size)
        # one pass per new arrival of the busiest env (arrivals at one instant, usually
        # one): each binding changes the counts the next arrival is bound by
        while True:
            new = (state != PENDING) & (mine < 0)
            if not new.any():
                return mine
            first = first_true(new)
            has = first >= 0
            live = (mine >= 0) & (state != DONE)
            outstanding = np.zeros((envs.size, sim.num_instances), dtype=np.int64)
            r, c = np.nonzero(live)
            np.add.at(outstanding, (r, mine[r, c]), 1)
            target = outstanding.argmin(axis=1)
            mine[rows[has], first[has]] = target[has]
            binding[envs[has], first[has] + win.start] = target[has]
