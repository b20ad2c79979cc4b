"""The embedded default workload: a seeded generator fitted to the Azure 2023 LLM traces.

No trace file is needed: :func:`synthetic_workload` draws arrivals, input lengths and output
lengths from a parametric model per profile. The figures it is fitted to are the published
statistics of the Azure LLM inference traces (Splitwise, ISCA'24; see ``DOMAIN.md`` section 3).

Model (the three fields are drawn independently of one another)
--------------------------------------------------------------
Input lengths: a piecewise log-linear quantile function (an inverse-CDF fit). ``log(tokens)``
is linearly interpolated between knots ``(probability, tokens)``; a uniform draw ``u`` maps to
``exp(interp(u, p, log t))``, rounded to an integer and clipped to ``[1, max]``. Every published
quantile is a knot, so the fit reproduces it exactly (up to sampling noise):

- ``conv``: p50 1020, p80 1315, p90 2734, p99 4142, max 14050, and the 86% share under 2048
  tokens as the knot (0.86, 2048). The published figures say nothing below the median and
  little about the tail, so a few more knots are read from the public 2023 conversation file:
  p0 2, p1 29, p10 207, p25 396 below, and p95 4083, p99.9 6179 above (without them the steep
  p99-to-max segment makes the sampled p99 noisy by about 10% at 20,000 requests).
- ``code``: p50 1469, p90 5188, p99 7436 and the knot (0.625, 2048) for the 62.5% share under
  2048. Not published, hence our choice: below the median the knots follow the log-normal shape
  implied by p50 and p90 (sigma = ln(5188/1469) / 1.2816 = 0.985, giving p10 416 and p1 149),
  p0 is 10 tokens and the maximum 8192 (the 2024 traces top out near 8K).

Output lengths: a log-normal truncated to ``[1, max]`` (rejection sampling), rounded to an
integer. Its two parameters are solved numerically so that the *truncated* distribution has
the published median and mean (a plain fit, sigma = sqrt(2 ln(mean/median)), would put the
tail above the cap into a spike at the cap when clipped):

- ``conv``: median 129, mean 211, max 1000 (the file's maximum) -> mu = 5.01, sigma = 1.38.
- ``code``: median 13, mean 28, max 1000 (assumed, not published) -> mu = 2.57, sigma = 1.25.

The outputs' tail is heavier than the real one (conv p99 about 930 against 601): a log-normal
cannot match median, mean and p99 at once, and the mean matters most for decode load.

Arrivals: a renewal process whose inter-arrival times have the profile's mean ``1/rate`` and
coefficient of variation (CV):

- ``conv`` (5.53 req/s, CV 1.09): gamma inter-arrivals with shape ``k = 1/CV^2 = 0.842`` and
  scale ``1/(rate k)``; a gamma renewal process has exactly that mean and CV.
- ``code`` (2.57 req/s, CV 13): a two-phase hyperexponential renewal process, i.e. bursts. Each
  gap is, with probability ``p``, a long pause (exponential, mean ``G``), else an in-burst gap
  (exponential, mean ``g = 0.1 / rate``). Runs of in-burst gaps form bursts of geometrically
  many requests (mean ``1/p``). For a target CV ``c`` and ``g = phi m`` (``m = 1/rate``,
  ``phi = 0.1``) the moments give ``p = (1 - phi)^2 / ((c^2 + 1)/2 - 2 phi + phi^2)`` and
  ``G = m (1 - (1 - p) phi) / p``: for CV 13, ``p = 0.0095`` (bursts of ~105 requests) and
  ``G = 95 m`` (pauses of ~37 s).

The realised mean rate is pinned: the ``n`` drawn gaps are scaled together (which keeps the
CV and the burst structure) so that they sum to exactly ``n / rate`` seconds, or to
``duration`` when a duration is asked for (then ``n = round(rate * duration)``). The first
request arrives at 0 and every arrival lies in ``[0, n / rate)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from pecgym.traces.workload import Workload, WorkloadError

DEFAULT_NUM_REQUESTS = 2000
"""Requests drawn when neither ``num_requests`` nor ``duration`` is given."""

BURST_GAP_FRACTION = 0.1
"""Mean in-burst gap of the bursty arrival model, as a fraction of the mean gap ``1/rate``."""


@dataclass(frozen=True)
class TraceProfile:
    """Parameters of one synthetic workload profile (see the module docstring)."""

    name: str
    rate: float
    """Mean arrival rate (requests per second)."""
    interarrival_cv: float
    """Coefficient of variation of the inter-arrival times."""
    arrival_model: Literal["gamma", "burst"]
    input_knots: tuple[tuple[float, int], ...]
    """``(probability, tokens)`` knots of the piecewise log-linear input quantile function."""
    output_median: float
    output_mean: float
    output_max: int

    @property
    def input_max(self) -> int:
        """The largest input length the profile can produce."""
        return int(self.input_knots[-1][1])

    @cached_property
    def output_lognormal(self) -> tuple[float, float]:
        """``(mu, sigma)`` of the output log-normal before truncation to ``[1, output_max]``."""
        return _fit_truncated_lognormal(self.output_median, self.output_mean, self.output_max)

    @cached_property
    def burst_parameters(self) -> tuple[float, float, float]:
        """``(p, G, g)``: pause probability, mean pause and mean in-burst gap, for rate 1."""
        phi = BURST_GAP_FRACTION
        c2 = self.interarrival_cv**2
        p = (1.0 - phi) ** 2 / ((c2 + 1.0) / 2.0 - 2.0 * phi + phi**2)
        if not 0.0 < p < 1.0:
            raise WorkloadError(
                f"profile {self.name!r}: CV {self.interarrival_cv} is too small for the burst "
                "model; use the gamma arrival model"
            )
        return p, (1.0 - (1.0 - p) * phi) / p, phi


PROFILES: dict[str, TraceProfile] = {
    "conv": TraceProfile(
        name="conv",
        rate=5.53,
        interarrival_cv=1.09,
        arrival_model="gamma",
        input_knots=(
            (0.0, 2),
            (0.01, 29),
            (0.10, 207),
            (0.25, 396),
            (0.50, 1020),
            (0.80, 1315),
            (0.86, 2048),
            (0.90, 2734),
            (0.95, 4083),
            (0.99, 4142),
            (0.999, 6179),
            (1.0, 14050),
        ),
        output_median=129.0,
        output_mean=211.0,
        output_max=1000,
    ),
    "code": TraceProfile(
        name="code",
        rate=2.57,
        interarrival_cv=13.0,
        arrival_model="burst",
        input_knots=(
            (0.0, 10),
            (0.01, 149),
            (0.10, 416),
            (0.50, 1469),
            (0.625, 2048),
            (0.90, 5188),
            (0.99, 7436),
            (1.0, 8192),
        ),
        output_median=13.0,
        output_mean=28.0,
        output_max=1000,
    ),
}
"""The built-in profiles, fitted to the Azure 2023 conversation and code traces."""


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _bisect(func, lo: float, hi: float, iterations: int = 100) -> float:
    """Root of an increasing scalar function on ``[lo, hi]``."""
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if func(mid) < 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _fit_truncated_lognormal(median: float, mean: float, cap: float) -> tuple[float, float]:
    """``(mu, sigma)`` whose log-normal truncated above at ``cap`` has this median and mean."""
    if not 0.0 < median < mean < cap:
        raise WorkloadError(
            f"cannot fit outputs: need 0 < median < mean < max, got {median}, {mean}, {cap}"
        )
    log_m, log_c = math.log(median), math.log(cap)

    def mu_for(sigma: float) -> float:
        # Truncated median: F(median) = F(cap) / 2; F(median)-F(cap)/2 decreases in mu.
        return _bisect(
            lambda mu: 0.5 * _normal_cdf((log_c - mu) / sigma) - _normal_cdf((log_m - mu) / sigma),
            log_m - 10.0,
            log_c,
        )

    def truncated_mean(sigma: float) -> float:
        mu = mu_for(sigma)
        upper = _normal_cdf((log_c - mu) / sigma)
        return math.exp(mu + sigma**2 / 2) * _normal_cdf((log_c - mu - sigma**2) / sigma) / upper

    sigma = _bisect(lambda s: truncated_mean(s) - mean, 1e-3, 5.0, iterations=60)
    return mu_for(sigma), sigma


def _sample_inputs(rng: np.random.Generator, profile: TraceProfile, n: int) -> np.ndarray:
    probs = np.array([p for p, _ in profile.input_knots], dtype=np.float64)
    log_tokens = np.log(np.array([t for _, t in profile.input_knots], dtype=np.float64))
    tokens = np.rint(np.exp(np.interp(rng.random(n), probs, log_tokens)))
    return np.clip(tokens, 1, profile.input_max).astype(np.int64)


def _sample_outputs(rng: np.random.Generator, profile: TraceProfile, n: int) -> np.ndarray:
    mu, sigma = profile.output_lognormal
    log_cap = math.log(profile.output_max)
    accept = _normal_cdf((log_cap - mu) / sigma)
    kept: list[np.ndarray] = []
    missing = n
    while missing > 0:  # rejection in vectorised rounds; one round almost always suffices
        draws = rng.normal(mu, sigma, size=int(missing / accept * 1.05) + 16)
        draws = draws[draws <= log_cap][:missing]
        kept.append(draws)
        missing -= draws.size
    tokens = np.rint(np.exp(np.concatenate(kept))) if kept else np.empty(0)
    return np.clip(tokens, 1, profile.output_max).astype(np.int64)


def _sample_gaps(rng: np.random.Generator, profile: TraceProfile, n: int) -> np.ndarray:
    """``n`` inter-arrival gaps for rate 1 (mean 1, the profile's CV)."""
    if profile.arrival_model == "gamma":
        shape = 1.0 / profile.interarrival_cv**2
        return rng.gamma(shape, 1.0 / shape, size=n)
    p, pause, in_burst = profile.burst_parameters
    is_pause = rng.random(n) < p
    return rng.exponential(1.0, size=n) * np.where(is_pause, pause, in_burst)


def synthetic_workload(
    profile: str = "conv",
    *,
    num_requests: int | None = None,
    duration: float | None = None,
    rate: float | None = None,
    seed: int = 0,
) -> Workload:
    """A seeded synthetic workload fitted to an Azure 2023 trace (``"conv"`` or ``"code"``).

    Give at most one of ``num_requests`` (default 2000) and ``duration`` (seconds; then
    ``round(rate * duration)`` requests, all arriving in ``[0, duration)``). ``rate`` overrides
    the profile's mean arrival rate (requests per second). The same seed gives identical arrays.
    """
    if profile not in PROFILES:
        raise WorkloadError(
            f"unknown synthetic profile {profile!r}; choose one of {', '.join(sorted(PROFILES))}"
        )
    spec = PROFILES[profile]
    if num_requests is not None and duration is not None:
        raise WorkloadError("give num_requests or duration, not both")
    if rate is None:
        rate = spec.rate
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise WorkloadError(f"rate must be a positive number of requests per second, got {rate!r}")
    if duration is not None:
        if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
            raise WorkloadError(f"duration must be a positive number of seconds, got {duration!r}")
        n = max(1, round(rate * duration))
        span = float(duration)
    else:
        n = DEFAULT_NUM_REQUESTS if num_requests is None else num_requests
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise WorkloadError(f"num_requests must be a positive integer, got {num_requests!r}")
        n = int(n)
        span = n / rate

    rng = np.random.default_rng(seed)
    gaps = _sample_gaps(rng, spec, n)
    gaps *= span / gaps.sum()
    arrival = np.concatenate(([0.0], np.cumsum(gaps[:-1])))
    inputs = _sample_inputs(rng, spec, n)
    outputs = _sample_outputs(rng, spec, n)
    return Workload(
        arrival=arrival,
        input_tokens=inputs,
        output_tokens=outputs,
        name=f"synthetic:{profile}",
        meta={"profile": profile, "seed": seed, "rate": float(rate), "source": "synthetic"},
    )
