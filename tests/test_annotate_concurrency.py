"""Ten annotators rating at the same time lose nothing, on SQLite and on a real PostgreSQL.

Every annotator works through the same 50 run samples with the annotation desk's own ``queue``
and ``submit`` (the same items in the same order, so they also race to create each sample's
``rated_items`` row), in its own thread with its own engine, as separate app servers would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evalharness import evaluate
from evalharness.annotate import Source, queue, submit
from evalharness.judges.rubric import load_rubric
from evalharness.meta.records import HumanRating, RatedItem, ratings
from evalharness.models.scripted import ScriptedModel
from evalharness.store import open_store
from tests.helpers import ECHO_TASK, free_port

ANNOTATORS = 10
PER_ANNOTATOR = 50
RUBRIC = "summeval"  # four criteria: four rows per submitted item


def _fill(url: str, folder: Path) -> None:
    rows = "".join(json.dumps({"word": f"w{i}"}) + "\n" for i in range(PER_ANNOTATOR))
    (folder / "rows.jsonl").write_text(rows)
    (folder / "echo.yaml").write_text(ECHO_TASK)
    model = ScriptedModel({f"Say w{i}": f"w{i}" for i in range(PER_ANNOTATOR)}, name="echoer")
    evaluate(model, [str(folder / "echo.yaml")], db=url, cache=False)


def _rate_all(url: str, annotator: str, errors: list[BaseException]) -> None:
    store = open_store(url)  # an engine of its own, like another app server
    try:
        rubric = load_rubric(RUBRIC)
        source = Source("task", "echo")
        for n in range(PER_ANNOTATOR):
            item = queue(store, annotator, rubric, source)[0]
            answers = {c.name: str(1 + (n + len(annotator)) % 5) for c in rubric.criteria}
            submit(store, annotator, item, rubric, answers, comment=f"{annotator} #{n}")
        assert queue(store, annotator, rubric, source) == []
    except BaseException as exc:  # reported by the test, not lost in the thread
        errors.append(exc)
    finally:
        store.engine.dispose()


def _run_annotators(url: str, folder: Path) -> None:
    _fill(url, folder)
    errors: list[BaseException] = []
    names = [f"annotator-{i:02d}" for i in range(ANNOTATORS)]
    threads = [threading.Thread(target=_rate_all, args=(url, n, errors)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "an annotator hung"
    assert not errors, errors
    store = open_store(url)
    criteria = len(load_rubric(RUBRIC).criteria)
    every = ratings(store, rubric=RUBRIC, latest=False)
    assert len(every) == ANNOTATORS * PER_ANNOTATOR * criteria  # nothing lost, nothing doubled
    per_annotator = every.groupby("annotator")["item_id"].nunique()
    assert per_annotator.to_dict() == dict.fromkeys(names, PER_ANNOTATOR)
    assert every.groupby(["annotator", "comment"]).size().eq(criteria).all()
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(RatedItem)) == PER_ANNOTATOR
        superseded = select(func.count()).where(HumanRating.supersedes_id.is_not(None))
        assert s.scalar(superseded) == 0
    store.engine.dispose()


def test_ten_annotators_sqlite(tmp_path: Path) -> None:
    _run_annotators(f"sqlite:///{tmp_path / 'ratings.db'}", tmp_path)


# ----------------------------------------------------------------------------- PostgreSQL


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (initdb in a temp dir, as ``postgres`` when
    the tests run as root, since the server refuses to run as root)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (pg_ctl) on this machine: apt-get install postgresql")
    pytest.importorskip("psycopg", reason="psycopg missing: pip install 'evalharness[postgres]'")
    as_user: list[str] = []
    root = tempfile.mkdtemp(prefix="evalharness-pg-")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = Path(root) / "data", free_port()

    def pg(*args: str) -> subprocess.CompletedProcess:
        out = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"{args[0]} failed: {out.stdout}\n{out.stderr}"
        return out

    pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"
    log = f"{root}/server.log"
    pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)


def test_ten_annotators_postgresql(postgres_url: str, tmp_path: Path) -> None:
    _run_annotators(postgres_url, tmp_path)
