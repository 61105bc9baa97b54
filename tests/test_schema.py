"""The store's schema: safe under concurrent first use, upgraded from the pre-Alembic schema."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from evalharness.schema import head
from evalharness.store import open_store
from tests.support.helpers import REPO

# The tables of runs and samples exactly as evalharness 0.1.0 (commit 7a8d3b7) created them.
OLD_SCHEMA = """
CREATE TABLE runs (
    id VARCHAR(32) NOT NULL, model VARCHAR(512) NOT NULL, model_name VARCHAR(512) NOT NULL,
    status VARCHAR(16) NOT NULL, config JSON NOT NULL, versions JSON NOT NULL,
    git_revision VARCHAR(64), tags JSON NOT NULL, created_at DATETIME NOT NULL,
    finished_at DATETIME, duration_s FLOAT, PRIMARY KEY (id)
);
CREATE TABLE samples (
    id INTEGER NOT NULL, run_id VARCHAR(32) NOT NULL, task VARCHAR(128) NOT NULL,
    idx INTEGER NOT NULL, input JSON NOT NULL, prompt TEXT NOT NULL, output TEXT,
    reference JSON, result JSON NOT NULL, scores JSON NOT NULL, stats JSON NOT NULL,
    latency_s FLOAT, prompt_tokens INTEGER, completion_tokens INTEGER, error TEXT,
    created_at DATETIME NOT NULL, PRIMARY KEY (id), UNIQUE (run_id, task, idx),
    FOREIGN KEY(run_id) REFERENCES runs (id)
);
CREATE INDEX ix_samples_run_id ON samples (run_id);
INSERT INTO runs VALUES ('old-run', 'scripted', 'scripted', 'finished', '{"tasks": ["echo"]}',
    '{}', NULL, '["v0"]', '2025-01-01 00:00:00.000000', '2025-01-01 00:01:00.000000', 60.0);
INSERT INTO samples VALUES (1, 'old-run', 'echo', 0, '{"word": "a"}', 'Say a', 'a', '["a"]',
    '{}', '{"exact_match": 1.0}', '{"exact_match": [1.0]}', 0.1, 2, 1, NULL,
    '2025-01-01 00:00:30.000000');
"""

OPEN = """
import sys
from evalharness.store import open_store
store = open_store(sys.argv[1])
print(len(store.runs()))
"""


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_sixteen_processes_open_one_new_store_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(16)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    failed = [err for code, _, err in results if code != 0]
    assert not failed, failed[0]
    assert all(out.strip() == "0" for _, out, _ in results)
    with sqlite3.connect(tmp_path / "new.db") as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]
    assert {"runs", "samples", "aggregates", "leases", "human_ratings"} <= _tables(
        tmp_path / "new.db"
    )


def test_a_store_from_before_migrations_is_upgraded_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as con:
        con.executescript(OLD_SCHEMA)
    assert _tables(path) == {"runs", "samples"}
    store = open_store(f"sqlite:///{path}")
    (run,) = store.runs()
    assert (run.id, run.status, run.tags, run.config) == (
        "old-run",
        "finished",
        ["v0"],
        {"tasks": ["echo"]},
    )
    (sample,) = store.samples("old-run")
    assert (sample.prompt, sample.output, sample.scores) == ("Say a", "a", {"exact_match": 1.0})
    assert {"leases", "aggregates", "judgments", "alembic_version"} <= _tables(path)
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]
        indices = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"ix_samples_failed", "ix_samples_scored", "ix_judgments_sample"} <= indices
    from evalharness.leases import acquire

    acquire(store, "old-run").release()  # the new table works on the upgraded store
    assert open_store(f"sqlite:///{path}").runs()[0].id == "old-run"  # reopening is a no-op


def test_migrations_ship_in_the_package() -> None:
    from importlib import resources

    folder = resources.files("evalharness") / "migrations"
    assert (folder / "env.py").is_file()
    assert sorted(p.name for p in (folder / "versions").iterdir() if p.name.endswith(".py")) == [
        "0001_baseline.py",
        "0002_leases.py",
        "0003_task_usage.py",
        "0004_page_indices.py",
        "0005_judge_agreement.py",
        "0006_judge_bias.py",
        "0007_scored_index.py",
        "0008_judgment_samples.py",
        "__init__.py",
    ]
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"migrations/versions/*.py"' in pyproject and '"alembic>=' in pyproject
