"""One throwaway PostgreSQL server per test session, a fresh database per test.

Started as ``tests/ratings/test_desk_concurrency.py`` starts its own: ``initdb`` in a temp dir
(as ``postgres`` when the tests run as root, since the server refuses to run as root).
A module opts in with ``STORE_KINDS = ("sqlite", "postgresql")``: its ``db_url`` tests then
run on both (``tests/conftest.py``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.helpers import free_port


def pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


class PgServer:
    def __init__(self, url: str) -> None:
        self.url = url
        self._names = itertools.count()

    def fresh_database(self) -> str:
        """The URL of a new, empty database on this server."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"


def start_postgres() -> Iterator[PgServer]:
    bin_dir = pg_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (pg_ctl) on this machine: apt-get install postgresql")
    pytest.importorskip("psycopg", reason="psycopg missing: pip install 'evalharness[postgres]'")
    as_user: list[str] = []
    root = tempfile.mkdtemp(prefix="evalharness-pg-")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = Path(root) / "data", free_port()

    def pg(*args: str) -> None:
        out = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"{args[0]} failed: {out.stdout}\n{out.stderr}"

    pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
    pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", f"{root}/log", "-w", "start")
    try:
        yield PgServer(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
