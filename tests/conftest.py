"""Shared test set-up: offline hub, small thread counts, the bundled corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: one compute thread each, in this process and in
    # the commands it starts (torch's thread pools would otherwise fight over the same cores).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
APOLLO = REPO / "examples" / "apollo13" / "mission_report.md"


@pytest.fixture(scope="session")
def apollo_report() -> Path:
    """The bundled Apollo 13 mission report (280 KB of real technical prose)."""
    return APOLLO


@pytest.fixture(scope="session")
def apollo_text(apollo_report: Path) -> str:
    return apollo_report.read_text(encoding="utf-8")
