"""Shared fixtures: the read-only data in ``../shared`` beside the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
CONV_TRACE_2023 = SHARED_DIR / "traces" / "AzureLLMInferenceTrace_conv.csv"
VIDUR_DIR = SHARED_DIR / "reference" / "vidur"


def _require(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{path} is missing: CI must run with ../shared beside the project")
    pytest.skip(f"{path} not found (needs ../shared beside the project)")


@pytest.fixture(scope="session")
def conv_trace_path() -> Path:
    """The Azure 2023 conversation trace shipped in ../shared/traces."""
    return _require(CONV_TRACE_2023)


@pytest.fixture(scope="session")
def vidur_dir() -> Path:
    """Public vidur per-op GPU profiles in ../shared/reference/vidur."""
    return _require(VIDUR_DIR)


def busy_core(num_envs: int = 8, steps: int = 150, seed: int = 0, wait: float = 0.3, **settings):
    """A batch of ``num_envs`` envs after ``steps`` random masked actions (SP groups,
    pauses, swaps, migrations): a busy state for checks against loops. Each step waits with
    probability ``wait``, else takes an allowed action uniformly."""
    import numpy as np

    from pecgym.envs.core import SchedCore
    from pecgym.envs.sampling import sample_masked_actions

    settings.setdefault("workload", {"num_requests": 96, "long_fraction": 0.1, "rate_scale": 4.0})
    core = SchedCore(num_envs, settings)
    core.reset_envs(range(num_envs), range(seed, seed + num_envs))
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        actions = sample_masked_actions(core.action_masks(), rng)
        core.step(np.where(rng.random(num_envs) < wait, 0, actions))
    return core
