"""Shared fixtures. Tests never reach a model hub: HF_HUB_OFFLINE is set before anything loads."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Responses cached by tests stay in this session (the embedded model's conversion is shared).
os.environ.setdefault(
    "EVALHARNESS_RESPONSE_CACHE",
    os.path.join(tempfile.mkdtemp(prefix="evalharness-test-cache-"), "responses.sqlite"),
)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from evalharness.models.embedded import embedded_model_dir

    return embedded_model_dir()
