"""Workload transforms: rate scaling, windows, long-input rescaling and LS labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pecgym.traces import (
    Workload,
    WorkloadError,
    label_latency_sensitive,
    rescale_long_inputs,
    sample_window,
    scale_rate,
    short_long_mask,
    synthetic_workload,
    time_window,
)


@pytest.fixture(scope="module")
def conv() -> Workload:
    return synthetic_workload("conv", num_requests=5000, seed=1)


def small(inputs: list[int], arrival: list[float] | None = None) -> Workload:
    arrival = list(range(len(inputs))) if arrival is None else arrival
    return Workload(arrival=arrival, input_tokens=inputs, output_tokens=[1] * len(inputs))


def test_scale_rate_doubles_the_load(conv: Workload) -> None:
    fast = scale_rate(conv, 2.0)
    np.testing.assert_allclose(fast.arrival, conv.arrival / 2)
    np.testing.assert_array_equal(fast.input_tokens, conv.input_tokens)
    assert fast.duration == pytest.approx(conv.duration / 2)
    assert fast.meta["rate_scale"] == 2.0
    assert "rate_scale" not in conv.meta  # the input is untouched


@pytest.mark.parametrize("factor", [0, -1.0, float("nan"), float("inf")])
def test_scale_rate_rejects_bad_factor(conv: Workload, factor: float) -> None:
    with pytest.raises(WorkloadError, match="scale_rate factor"):
        scale_rate(conv, factor)


def test_time_window_selects_and_rebases() -> None:
    w = small([1, 2, 3, 4, 5], arrival=[0.0, 1.0, 2.5, 3.0, 4.0])
    part = time_window(w, 1.0, 2.0)  # [1, 3)
    np.testing.assert_array_equal(part.input_tokens, [2, 3])
    np.testing.assert_allclose(part.arrival, [0.0, 1.5])
    with pytest.raises(WorkloadError, match=r"holds no request .*span \[0, 4\.000\]"):
        time_window(w, 10.0, 5.0)
    with pytest.raises(WorkloadError, match="duration must be > 0"):
        time_window(w, 0.0, 0.0)


def test_sample_window_is_seeded_and_non_empty(conv: Workload) -> None:
    a = sample_window(conv, 60.0, seed=4)
    b = sample_window(conv, 60.0, seed=4)
    c = sample_window(conv, 60.0, seed=5)
    np.testing.assert_array_equal(a.arrival, b.arrival)
    assert a.meta["window"] != c.meta["window"]
    assert len(a) > 0 and a.arrival[-1] < 60.0
    with pytest.raises(WorkloadError, match="longer than workload"):
        sample_window(conv, conv.duration * 2, seed=0)


def test_sample_window_on_a_gappy_trace_finds_requests() -> None:
    w = small([1, 2], arrival=[0.0, 10_000.0])
    for seed in range(5):
        assert len(sample_window(w, 1.0, seed=seed)) >= 1


def test_rescale_by_fraction_maps_min_to_low_and_max_to_high(conv: Workload) -> None:
    out = rescale_long_inputs(conv, fraction=0.05)
    assert len(out) == len(conv)
    changed = out.input_tokens != conv.input_tokens
    assert changed.sum() == 250
    order = np.argsort(conv.input_tokens, kind="stable")
    top = order[-250:]
    assert out.input_tokens[top].min() == 100_000
    assert out.input_tokens[top].max() == 500_000
    assert np.all(np.diff(out.input_tokens[top]) >= 0)  # order preserved
    np.testing.assert_array_equal(out.input_tokens[order[:-250]], conv.input_tokens[order[:-250]])


def test_rescale_by_threshold() -> None:
    w = small([10, 5000, 100, 8000, 6000])
    out = rescale_long_inputs(w, threshold=4096, low=1000, high=2000)
    np.testing.assert_array_equal(out.input_tokens, [10, 1000, 100, 2000, 1333])
    assert out.meta["rescaled_long_inputs"]["count"] == 3


def test_rescale_equal_lengths_map_to_low() -> None:
    out = rescale_long_inputs(small([5, 9000, 9000]), threshold=4096)
    np.testing.assert_array_equal(out.input_tokens, [5, 100_000, 100_000])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of fraction and threshold"),
        ({"fraction": 0.1, "threshold": 10}, "exactly one of fraction and threshold"),
        ({"fraction": 0.0}, r"fraction must be in \(0, 1\]"),
        ({"fraction": 1.5}, r"fraction must be in \(0, 1\]"),
        ({"fraction": 0.1, "low": 500, "high": 500}, "need low < high"),
        ({"fraction": 0.1, "low": 0}, "low must be an integer >= 1"),
        ({"threshold": 10**6}, "no request .* more than 1000000 input tokens"),
    ],
)
def test_rescale_rejects_bad_arguments(conv: Workload, kwargs: dict, match: str) -> None:
    with pytest.raises(WorkloadError, match=match):
        rescale_long_inputs(conv, **kwargs)


def test_label_latency_sensitive_fraction_and_seed(conv: Workload) -> None:
    a = label_latency_sensitive(conv, 0.2, seed=3)
    b = label_latency_sensitive(conv, 0.2, seed=3)
    c = label_latency_sensitive(conv, 0.2, seed=4)
    assert a.latency_sensitive.mean() == pytest.approx(0.2, abs=1e-3)
    np.testing.assert_array_equal(a.latency_sensitive, b.latency_sensitive)
    assert not np.array_equal(a.latency_sensitive, c.latency_sensitive)
    assert conv.latency_sensitive is None
    assert not label_latency_sensitive(conv, 0.0, seed=0).latency_sensitive.any()
    with pytest.raises(WorkloadError, match=r"fraction must be in \[0, 1\]"):
        label_latency_sensitive(conv, 1.2, seed=0)


def test_short_long_mask() -> None:
    w = small([100, 4096, 4097])
    np.testing.assert_array_equal(short_long_mask(w), [False, False, True])
    np.testing.assert_array_equal(short_long_mask(w, threshold=50), [True, True, True])


workloads = st.lists(
    st.tuples(
        st.floats(0, 1000, allow_nan=False),
        st.integers(1, 20_000),
        st.integers(1, 2000),
    ),
    min_size=1,
    max_size=60,
).map(
    lambda rows: Workload(
        arrival=np.sort([r[0] for r in rows]),
        input_tokens=[r[1] for r in rows],
        output_tokens=[r[2] for r in rows],
    )
)


@settings(max_examples=60, deadline=None)
@given(
    w=workloads,
    factor=st.floats(0.01, 100),
    fraction=st.floats(0.01, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_transforms_preserve_count_and_order(
    w: Workload, factor: float, fraction: float, seed: int
) -> None:
    scaled = scale_rate(w, factor)
    assert len(scaled) == len(w) and np.all(np.diff(scaled.arrival) >= 0)
    rescaled = rescale_long_inputs(w, fraction=fraction)
    assert len(rescaled) == len(w)
    np.testing.assert_array_equal(rescaled.arrival, w.arrival)
    # The ceil(fraction * n) longest are mapped monotonically onto [low, high]; others kept.
    count = min(len(w), math.ceil(fraction * len(w) - 1e-9))
    order = np.argsort(w.input_tokens, kind="stable")
    top, rest = order[len(w) - count :], order[: len(w) - count]
    assert np.all(np.diff(rescaled.input_tokens[top]) >= 0)
    assert rescaled.input_tokens[top].min() == 100_000
    np.testing.assert_array_equal(rescaled.input_tokens[rest], w.input_tokens[rest])
    labelled = label_latency_sensitive(w, fraction, seed=seed)
    assert labelled.latency_sensitive.sum() == round(fraction * len(w))
    window = sample_window(w, w.duration / 2, seed=seed) if w.duration > 0 else w
    assert 1 <= len(window) <= len(w) and np.all(np.diff(window.arrival) >= 0)
