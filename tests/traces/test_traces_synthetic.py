"""The synthetic generator: fit to the Azure 2023 figures, determinism and arguments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pecgym.traces import (
    PROFILES,
    WorkloadError,
    load_azure_csv,
    synthetic_workload,
    trace_stats,
)

N = 20_000


@pytest.fixture(scope="module")
def real_conv_stats(conv_trace_path: Path) -> dict:
    return trace_stats(load_azure_csv(conv_trace_path))


@pytest.fixture(scope="module")
def conv_stats() -> dict:
    return trace_stats(synthetic_workload("conv", num_requests=N, seed=0))


@pytest.fixture(scope="module")
def code_stats() -> dict:
    return trace_stats(synthetic_workload("code", num_requests=N, seed=0))


@pytest.mark.parametrize("key", ["input_p50", "input_p90", "input_p99", "input_share_under_2048"])
def test_conv_inputs_match_real_trace_within_10_percent(
    real_conv_stats: dict, conv_stats: dict, key: str
) -> None:
    assert conv_stats[key] == pytest.approx(real_conv_stats[key], rel=0.10)


@pytest.mark.parametrize(
    ("key", "rel"),
    [("rate_rps", 0.01), ("interarrival_cv", 0.10), ("output_mean", 0.05), ("output_p50", 0.05)],
)
def test_conv_arrivals_and_outputs_match_real_trace(
    real_conv_stats: dict, conv_stats: dict, key: str, rel: float
) -> None:
    assert conv_stats[key] == pytest.approx(real_conv_stats[key], rel=rel)


def test_conv_maximum_is_respected(real_conv_stats: dict, conv_stats: dict) -> None:
    assert conv_stats["input_max"] <= real_conv_stats["input_max"]
    assert conv_stats["output_max"] <= real_conv_stats["output_max"]


# DOMAIN.md section 3, 2023 code trace.
CODE_FIGURES = {
    "input_p50": (1469, 0.10),
    "input_p90": (5188, 0.10),
    "input_p99": (7436, 0.10),
    "input_share_under_2048": (0.625, 0.10),
    "rate_rps": (2.57, 0.02),
    "output_mean": (28, 0.10),
    "output_p50": (13, 0.10),
}


@pytest.mark.parametrize("key", sorted(CODE_FIGURES))
def test_code_profile_matches_published_figures(code_stats: dict, key: str) -> None:
    target, rel = CODE_FIGURES[key]
    assert code_stats[key] == pytest.approx(target, rel=rel)


def test_code_profile_is_bursty(code_stats: dict) -> None:
    # CV 13 is driven by a few long pauses, so its sample value is noisy.
    assert 9 < code_stats["interarrival_cv"] < 18


def test_same_seed_identical_and_different_seeds_differ() -> None:
    for profile in PROFILES:
        a = synthetic_workload(profile, num_requests=500, seed=7)
        b = synthetic_workload(profile, num_requests=500, seed=7)
        c = synthetic_workload(profile, num_requests=500, seed=8)
        np.testing.assert_array_equal(a.arrival, b.arrival)
        np.testing.assert_array_equal(a.input_tokens, b.input_tokens)
        np.testing.assert_array_equal(a.output_tokens, b.output_tokens)
        assert not np.array_equal(a.arrival, c.arrival)
        assert not np.array_equal(a.input_tokens, c.input_tokens)
        assert not np.array_equal(a.output_tokens, c.output_tokens)


def test_defaults_and_shape() -> None:
    w = synthetic_workload()
    assert len(w) == 2000
    assert w.name == "synthetic:conv"
    assert w.arrival[0] == 0.0
    assert np.all(np.diff(w.arrival) >= 0)
    assert w.input_tokens.min() >= 1 and w.output_tokens.min() >= 1
    assert w.latency_sensitive is None
    assert len(w) / w.duration == pytest.approx(PROFILES["conv"].rate, rel=0.01)


def test_duration_and_rate() -> None:
    w = synthetic_workload("code", duration=600.0, rate=10.0, seed=3)
    assert len(w) == 6000
    assert w.arrival[-1] < 600.0
    assert len(w) / w.duration == pytest.approx(10.0, rel=0.01)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"profile": "chat"}, "unknown synthetic profile 'chat'"),
        ({"num_requests": 10, "duration": 5.0}, "not both"),
        ({"num_requests": 0}, "num_requests must be a positive integer"),
        ({"duration": -1.0}, "duration must be a positive"),
        ({"rate": 0.0}, "rate must be a positive"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(WorkloadError, match=match):
        synthetic_workload(**kwargs)


def test_documented_output_fit() -> None:
    mu, sigma = PROFILES["conv"].output_lognormal
    assert (mu, sigma) == pytest.approx((5.01, 1.38), abs=0.01)
    mu, sigma = PROFILES["code"].output_lognormal
    assert (mu, sigma) == pytest.approx((2.57, 1.25), abs=0.01)
