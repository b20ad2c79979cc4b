"""The state declared once: allocation, growth and an env's reset come from one table."""

from __future__ import annotations

import numpy as np

from pecgym.baselines import FIFOPolicy
from pecgym.sim.config import ClusterConfig
from pecgym.sim.fields import FIELDS
from pecgym.sim.replay import replay
from pecgym.sim.simulator import ClusterSim
from pecgym.traces.synthetic import synthetic_workload


def workloads(count: int, seed: int):
    return synthetic_workload("conv", num_requests=count, seed=seed)


def test_every_field_is_allocated_with_its_shape_dtype_and_fill() -> None:
    sim = ClusterSim(ClusterConfig(num_instances=3), [workloads(5, 0), workloads(7, 1)])
    shapes = {"request": (2, 7), "request_instance": (2, 7, 3), "instance": (2, 3),
              "env": (2,), "env_class": (2, 2)}  # fmt: skip
    for field in FIELDS:
        array = getattr(sim, field.name)
        assert array.shape == shapes[field.shape], field.name
        assert array.dtype == np.dtype(field.dtype), field.name


def test_a_reloaded_env_equals_a_fresh_one_field_by_field() -> None:
    config = ClusterConfig(num_instances=2)
    used = ClusterSim(config, [workloads(30, 0), workloads(12, 1)])
    replay(used, FIFOPolicy().decide)  # every field of both envs moves
    used.load(0, workloads(20, 2))  # a shorter workload into the bigger env
    fresh = ClusterSim(config, [workloads(20, 2), workloads(12, 1)])
    for field in FIELDS:
        a, b = getattr(used, field.name)[0], getattr(fresh, field.name)[0]
        if field.per_request:  # the fresh sim is narrower: the rest must be at its fill
            a, rest = a[: b.shape[0]], a[b.shape[0] :]
            assert np.array_equal(rest, np.full_like(rest, field.fill), equal_nan=True)
        assert np.array_equal(a, b, equal_nan=True), field.name


def test_growing_keeps_every_env_and_fills_the_new_requests() -> None:
    config = ClusterConfig(num_instances=2)
    sim = ClusterSim(config, [workloads(10, 0), workloads(10, 1)])
    replay(sim, FIFOPolicy().decide)
    before = {field.name: getattr(sim, field.name).copy() for field in FIELDS}
    sim.load(1, workloads(25, 3))
    assert sim.num_requests_max == 25
    for field in FIELDS:
        after = getattr(sim, field.name)
        if field.per_request:
            assert np.array_equal(after[0, :10], before[field.name][0], equal_nan=True)
            assert np.array_equal(after[0, 10:], np.full_like(after[0, 10:], field.fill),
                                  equal_nan=True), field.name  # fmt: skip
        else:
            assert np.array_equal(after[0], before[field.name][0], equal_nan=True), field.name
