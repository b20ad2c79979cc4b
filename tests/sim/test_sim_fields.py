"""The state declared once: allocation, growth and an env's reset come from one table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

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


def test_state_is_read_outside_the_simulator_only_through_its_read_api() -> None:
    """Envs, policies and the harness read the simulator through ``read`` and its views:
    no module outside ``pecgym/sim`` names a state array directly."""
    names = "|".join(field.name for field in FIELDS)
    raw = re.compile(rf"(?<!pecgym\.)\bsim\.({names})\b")
    root = Path(__file__).resolve().parents[2] / "pecgym"
    offenders = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in root.rglob("*.py")
        if path.parent.name != "sim"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if raw.search(line)
    ]
    assert not offenders, offenders
    assert any(root.rglob("*.py"))


def test_read_gives_read_only_views_of_readable_fields() -> None:
    sim = replay(ClusterSim(ClusterConfig(num_instances=2), [workloads(6, 3)]), FIFOPolicy().decide)
    state = sim.read("state")
    np.testing.assert_array_equal(state, sim.state)
    with pytest.raises(ValueError, match="read-only"):
        state[0, 0] = 0
    assert sim.read("state") is state  # one view per field, kept until the arrays grow
    internal = [field.name for field in FIELDS if not field.readable]
    assert "ready_at" in internal and "_kv_used" in internal
    for name in (*internal, "no_such_field"):
        with pytest.raises(KeyError, match="no readable simulator field"):
            sim.read(name)
    sim.load(0, workloads(40, 4))  # longer: the arrays grow, the views follow
    assert sim.read("state").shape == sim.state.shape and sim.read("state").base is sim.state
