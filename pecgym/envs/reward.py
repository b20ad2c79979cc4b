"""Primary objectives and the reward that decomposes them step by step.

An objective is one number per episode, lower is better: the weighted mean of a per-request
cost, plus ``unfinished_penalty`` times the share of requests a truncated episode leaves
unfinished (:class:`~pecgym.envs.config.RewardConfig`). The reward of a step is minus
``scale`` times the cost accrued during it, so an episode's return is exactly minus
``scale`` times its objective (and minus the invalid actions' penalty).

* ``slowdown``: a request's cost is its time in the system (arrival to last token, or to the
  episode's end if unfinished) over its JCT alone on an idle cluster
  (:attr:`ClusterSim.jct_alone`); a step accrues each request's time in the system during
  the step over that unit.
* ``slo_violations``: a request's cost is 100 if its first token comes after its TTFT SLO
  (``cluster.ttft_slo`` for latency-sensitive requests, or for every request of an
  unlabelled workload; ``cluster.be_ttft_slo`` for best-effort ones, which have none if it
  is unset), weighted ``reward.ls_weight`` for LS and 1 for BE; a step accrues the
  deadlines it passes unmet, and the episode's end those still ahead with no first token.
"""

from __future__ import annotations

import numpy as np

from pecgym.envs.config import RewardConfig
from pecgym.sim.metrics import request_columns
from pecgym.sim.simulator import ClusterSim
from pecgym.sim.state import PENDING


def _window(sim: ClusterSim, start: int) -> slice:
    return slice(start, int(sim.read("next_arrival").max()))


def row_sums(values: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``values`` added left to right: unlike ``sum`` (pairwise), the
    result does not depend on how many zeros surround an env's own requests, so an env
    alone and in a batch get bit-identical rewards."""
    if not values.shape[-1]:
        return np.zeros(values.shape[:-1])
    return np.cumsum(values, axis=-1)[..., -1]


class Slowdown:
    """Mean slowdown (see the module docstring)."""

    name = "slowdown"

    def __init__(self, config: RewardConfig) -> None:
        self.config = config

    def interval(self, sim: ClusterSim, t0: np.ndarray, start: int) -> np.ndarray:
        """Per env, the cost accrued from ``t0`` to the current clock by the requests from
        index ``start`` on (earlier ones were done by ``t0``)."""
        win = _window(sim, start)
        t1 = sim.read("clock")[:, None]
        # fmin: an unfinished request (NaN finish) is in the system up to t1
        until = np.fmin(t1, sim.read("t_finish")[:, win])
        inside = until - np.maximum(t0[:, None], sim.read("arrival")[:, win])
        seconds = np.maximum(inside, 0.0) / sim.read("jct_alone")[:, win]
        return row_sums(seconds) / np.maximum(sim.read("num_requests"), 1)

    def at_end(self, sim: ClusterSim, envs: np.ndarray) -> np.ndarray:
        """Cost charged when the episodes of ``envs`` end (none for slowdown)."""
        return np.zeros(envs.size)

    def per_request(self, sim: ClusterSim, env: int) -> tuple[np.ndarray, np.ndarray]:
        """Per request of one env at the episode's end: ``(cost, weight)``: the censored
        slowdown of the metrics (0 for a request that never arrived)."""
        slowdown = np.nan_to_num(request_columns(sim, env)["slowdown"], nan=0.0)
        return slowdown, np.ones(slowdown.size)


class SLOViolations:
    """Weighted percentage of TTFT SLO violations (see the module docstring)."""

    name = "slo_violations"

    def __init__(self, config: RewardConfig) -> None:
        self.config = config

    def _deadline_and_weight(self, sim: ClusterSim, win: slice | np.ndarray, env=slice(None)):
        c = sim.config
        ls = sim.read("latency_sensitive")[env, win]
        labelled = sim.read("latency_sensitive")[env].any(axis=-1, keepdims=True)
        be_slo = np.inf if c.be_ttft_slo is None else c.be_ttft_slo
        slo = np.where(ls | ~labelled, c.ttft_slo, be_slo)
        weight = np.where(ls, self.config.ls_weight, np.where(np.isfinite(slo), 1.0, 0.0))
        return sim.read("arrival")[env, win] + slo, weight

    def _total_weight(self, sim: ClusterSim) -> np.ndarray:
        exists = slice(0, sim.num_requests_max)
        _, weight = self._deadline_and_weight(sim, exists)
        return np.maximum(row_sums(weight * sim.read("exists")), 1e-12)

    def interval(self, sim: ClusterSim, t0: np.ndarray, start: int) -> np.ndarray:
        win = _window(sim, start)
        deadline, weight = self._deadline_and_weight(sim, win)
        passed = (deadline > t0[:, None]) & (deadline <= sim.read("clock")[:, None])
        missed = passed & ~(sim.read("t_first_token")[:, win] <= deadline)
        return 100.0 * row_sums(weight * missed) / self._total_weight(sim)

    def at_end(self, sim: ClusterSim, envs: np.ndarray) -> np.ndarray:
        """Deadlines still ahead at the end, of arrived requests with no first token."""
        win = slice(0, sim.num_requests_max)
        deadline, weight = self._deadline_and_weight(sim, win, envs)
        clock = sim.read("clock")[envs, None]
        unserved = np.isnan(sim.read("t_first_token")[envs])
        open_ = (deadline > clock) & unserved & (sim.read("arrival")[envs] <= clock)
        return 100.0 * row_sums(weight * open_) / self._total_weight(sim)[envs]

    def per_request(self, sim: ClusterSim, env: int) -> tuple[np.ndarray, np.ndarray]:
        n = int(sim.read("num_requests")[env])
        deadline, weight = self._deadline_and_weight(sim, slice(0, n), env)
        arrived = sim.read("state")[env, :n] != PENDING
        met = sim.read("t_first_token")[env, :n] <= deadline
        return np.where(arrived & ~met, 100.0, 0.0), weight


OBJECTIVE_CLASSES = {"slowdown": Slowdown, "slo_violations": SLOViolations}


def make_objective(config: RewardConfig) -> Slowdown | SLOViolations:
    """The objective a reward config names."""
    return OBJECTIVE_CLASSES[config.objective](config)


def unfinished_share(sim: ClusterSim, envs: np.ndarray) -> np.ndarray:
    """Per listed env, the share of its requests not done."""
    total = np.maximum(sim.read("num_requests")[envs], 1)
    return (sim.read("num_requests")[envs] - sim.read("num_done")[envs]) / total


def episode_objective(sim: ClusterSim, env: int, config: RewardConfig) -> dict[str, float]:
    """One env's objective at its episode's end: ``objective`` (what the return is minus
    ``scale`` times, without invalid-action penalties), its ``objective.cost`` part and its
    ``objective.unfinished`` penalty part."""
    cost, weight = make_objective(config).per_request(sim, env)
    value = float((cost * weight).sum() / max(weight.sum(), 1e-12)) if cost.size else 0.0
    penalty = float(config.unfinished_penalty * unfinished_share(sim, np.array([env]))[0])
    return {
        "objective": value + penalty,
        "objective.cost": value,
        "objective.unfinished": penalty,
    }
