"""Convergence: with decisions only every ``decision_interval`` seconds, metrics approach the
event-driven run as the interval shrinks (events still happen at their exact times; only
the policy's starts wait for the next tick)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from pecgym.baselines import FIFOPolicy
from pecgym.sim.config import ClusterConfig
from pecgym.sim.metrics import request_frame
from pecgym.sim.replay import replay
from pecgym.sim.simulator import ClusterSim
from pecgym.traces.spec import WorkloadSpec

INTERVALS = (1.0, 0.1, 0.01, 0.001)
METRICS = ("queueing_delay", "ttft", "jct")


def fifo_runs(num_instances: int, num_requests: int, rate_scale: float, seed: int) -> dict:
    """FIFO, event-driven (key None) and at every interval, on busy conversation traffic
    (outputs capped at 100 tokens so that the run, and the number of ticks, stay short)."""
    base = WorkloadSpec(num_requests=num_requests, rate_scale=rate_scale).build(seed)
    load = base.replace(output_tokens=np.minimum(base.output_tokens, 100))
    out = {}
    for interval in (None, *INTERVALS):
        config = ClusterConfig(num_instances=num_instances, decision_interval=interval)
        frame = request_frame(replay(ClusterSim(config, [load]), FIFOPolicy().decide))
        assert (frame["state"] == "done").all()
        out[interval] = frame
    return out


@pytest.fixture(scope="module")
def one() -> dict[float | None, pd.DataFrame]:
    """One instance: a single FIFO server, no placement choices."""
    return fifo_runs(num_instances=1, num_requests=70, rate_scale=1.0, seed=0)


@pytest.fixture(scope="module")
def cluster() -> dict[float | None, pd.DataFrame]:
    """Four instances: FIFO also picks the least-loaded instance."""
    return fifo_runs(num_instances=4, num_requests=200, rate_scale=4.0, seed=3)


def mean_errors(runs, metric: str) -> list[float]:
    exact = runs[None][metric].mean()
    return [abs(runs[interval][metric].mean() - exact) for interval in INTERVALS]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("setup", ["one", "cluster"])
def test_mean_error_shrinks_with_the_interval(request, setup: str, metric: str) -> None:
    errors = mean_errors(request.getfixturevalue(setup), metric)
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    # linear convergence at the fine end: off by a few ticks at most (a request waits
    # for the next tick, and so may the ones queued behind it): ~1 ms at 1 ms ticks
    for interval, error in zip(INTERVALS[2:], errors[2:], strict=True):
        assert error < 3 * interval, (interval, error)


@pytest.mark.parametrize("setup", ["one", "cluster"])
def test_the_event_driven_run_has_queueing(request, setup: str) -> None:
    """The comparison means something only if requests actually wait."""
    runs = request.getfixturevalue(setup)
    delay = runs[None]["queueing_delay"]
    assert (delay > 0).mean() > 0.1
    assert runs[1.0]["queueing_delay"].mean() > 10 * delay.mean()


@pytest.mark.parametrize("interval", INTERVALS)
def test_ticks_never_start_a_request_earlier(one, interval: float) -> None:
    """On one instance every request starts no earlier than in the event-driven run.

    (With several instances this holds on average but not per request: a start delayed to
    a tick may land on another instance, and a request behind it can then gain.)"""
    delay, exact = one[interval]["queueing_delay"], one[None]["queueing_delay"]
    assert np.all(delay.to_numpy() >= exact.to_numpy() - 1e-9)
    assert (delay > exact + 1e-9).any()


@pytest.mark.parametrize("setup", ["one", "cluster"])
@pytest.mark.parametrize("interval", INTERVALS)
def test_requests_start_only_on_ticks(request, setup: str, interval: float) -> None:
    ticks = request.getfixturevalue(setup)[interval]["t_start"].to_numpy() / interval
    np.testing.assert_allclose(ticks, np.round(ticks), rtol=0, atol=1e-6)


def test_event_driven_starts_are_not_on_ticks(one) -> None:
    """Control for the test above: event-driven starts fall anywhere."""
    ticks = one[None]["t_start"].to_numpy() / 0.001
    assert np.abs(ticks - np.round(ticks)).max() > 0.01


@pytest.mark.parametrize("setup", ["one", "cluster"])
def test_worst_request_converges_too(request, setup: str) -> None:
    runs = request.getfixturevalue(setup)
    exact = runs[None]["queueing_delay"]
    worst = [(runs[i]["queueing_delay"] - exact).abs().max() for i in INTERVALS]
    assert worst[3] < worst[1] / 10
    assert worst[3] < 0.05
