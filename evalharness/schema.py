"""The store's schema: versioned with Alembic, upgraded when a store is opened, safely at once.

``open_store`` calls ``upgrade``: a store already at the head revision costs one query; a new
store gets every migration; a store written before migrations existed (tables, no
``alembic_version``) is stamped at the baseline and upgraded, its rows kept. Many processes
opening one new store at once are serialised: a file lock beside a SQLite file, an advisory
lock on PostgreSQL. Tables that a module defines on ``Base`` without a migration yet are still
created (``create_all``), under the same lock.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine

BASELINE = "0001"


def _config(connection: Connection) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("evalharness") / "migrations"))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    from alembic.script import ScriptDirectory

    folder = str(resources.files("evalharness") / "migrations")
    return ScriptDirectory(folder).get_current_head() or BASELINE


def current(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextlib.contextmanager
def _exclusive(engine: Engine) -> Iterator[None]:
    """One process at a time migrates this store."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        lock = Path(f"{url.database}.migrate-lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif url.get_backend_name() == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(7421)"))
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(7421)"))
    else:
        yield


def upgrade(engine: Engine, metadata: MetaData) -> None:
    """Bring the store to the head revision (see the module docstring); then create the tables
    of ``metadata`` that no migration made."""
    from alembic import command

    target = head()
    with engine.connect() as connection:
        if current(connection) == target:
            if _unversioned(engine, metadata):
                with _exclusive(engine):
                    _create_unversioned(engine, metadata)
            return
    with _exclusive(engine), engine.begin() as connection:
        revision = current(connection)
        if revision != target:
            config = _config(connection)
            if revision is None and inspect(connection).has_table("runs"):
                command.stamp(config, BASELINE)  # a store from before migrations
            command.upgrade(config, "head")
    with _exclusive(engine):
        _create_unversioned(engine, metadata)


def _unversioned(engine: Engine, metadata: MetaData) -> list:
    """Tables of ``metadata`` that no migration has created (yet)."""
    existing = set(inspect(engine).get_table_names())
    return [t for name, t in metadata.tables.items() if name not in existing]


def _create_unversioned(engine: Engine, metadata: MetaData) -> None:
    missing = _unversioned(engine, metadata)
    if missing:
        metadata.create_all(engine, tables=missing, checkfirst=True)
