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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module with ``STORE_KINDS = ("sqlite", "postgresql")`` runs its store tests on both."""
    kinds = getattr(metafunc.module, "STORE_KINDS", None)
    if kinds and "db_url" in metafunc.fixturenames:
        metafunc.parametrize("store_kind", kinds)


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


@pytest.fixture(scope="session")
def postgres_server():
    from tests.support.pg_server import start_postgres

    yield from start_postgres()


@pytest.fixture
def db_url(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> str:
    if store_kind == "postgresql":
        return request.getfixturevalue("postgres_server").fresh_database()
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from evalharness.models.embedded import embedded_model_dir

    return embedded_model_dir()
