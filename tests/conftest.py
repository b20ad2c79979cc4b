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
