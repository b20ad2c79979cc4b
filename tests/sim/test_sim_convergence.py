"""Convergence: with decisions only every ``decision_interval`` seconds, metrics approach the
event-driven run as the interval shrinks (events still happen at their exact times; only
the policy's starts wait for the next tick), up to one iteration: an event-driven start at
an iteration's end joins the next one at once, while a start a tick later waits for the
running iteration to end."""

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
ITERATION = ClusterConfig().cost_model.decode_step_time(16, 16 * 2000)
"""An upper bound of one iteration in these runs (a decode batch of 16 at 2K context)."""
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
    # down to the floor of one iteration: coarse ticks cost more than fine ones
    assert all(a > b for a, b in itertools.pairwise(errors[:3])), errors
    assert errors[3] <= errors[2] * 1.01, errors
    # at the fine end: off by a few ticks (a request waits for the next tick, and so may
    # the ones queued behind it) plus at most the iteration a tick-late start waits out
    for interval, error in zip(INTERVALS[2:], errors[2:], strict=True):
        assert error < 3 * interval + ITERATION, (interval, error)


@pytest.mark.parametrize("setup", ["one", "cluster"])
def test_the_event_driven_run_has_queueing(request, setup: str) -> None:
    """The comparison means something only if requests actually wait."""
    runs = request.getfixturevalue(setup)
    delay = runs[None]["queueing_delay"]
    assert (delay > 0).mean() > 0.1
    assert runs[1.0]["queueing_delay"].mean() > 10 * delay.mean()


@pytest.mark.parametrize("interval", INTERVALS)
def test_ticks_never_start_requests_earlier_on_average(one, interval: float) -> None:
    """On one instance, deciding only on ticks delays starts. (Not every request: a start
    moved to a tick meets another phase of the iterations, and may join one sooner.)"""
    delay, exact = one[interval]["queueing_delay"], one[None]["queueing_delay"]
    assert delay.mean() > exact.mean()


@pytest.mark.parametrize("setup", ["one", "cluster"])
@pytest.mark.parametrize("interval", INTERVALS)
def test_requests_start_within_an_iteration_after_a_tick(
    request, setup: str, interval: float
) -> None:
    """The policy acts on ticks only; a request then joins at the end of the iteration
    running on its instances."""
    starts = request.getfixturevalue(setup)[interval]["t_start"].to_numpy()
    after_tick = starts - np.floor(starts / interval + 1e-9) * interval
    assert (after_tick <= ITERATION + 1e-9).all()
    if interval >= 0.1:
        assert (after_tick > 1e-9).any()  # some waited for an iteration to end
        assert (after_tick <= 1e-9).any()  # and some found their instances idle


def test_event_driven_starts_are_not_on_ticks(one) -> None:
    """Control for the test above: event-driven starts fall anywhere."""
    ticks = one[None]["t_start"].to_numpy() / 0.1
    assert np.abs(ticks - np.round(ticks)).max() > 0.01


@pytest.mark.parametrize("setup", ["one", "cluster"])
def test_worst_request_converges_too(request, setup: str) -> None:
    runs = request.getfixturevalue(setup)
    exact = runs[None]["queueing_delay"]
    worst = [(runs[i]["queueing_delay"] - exact).abs().max() for i in INTERVALS]
    assert worst[3] < worst[1] / 5
    # a few iterations at most: each request queued behind a tick-late start waits too
    assert worst[3] < 6 * ITERATION
