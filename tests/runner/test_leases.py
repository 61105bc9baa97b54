"""Leases: one process executes a run at a time; a dead one's run shows as interrupted.

Real processes (the CLI with the scripted model, whose ``log_path`` records every request),
real SQLite, real ``kill -9``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalharness.errors import StoreError
from evalharness.leases import acquire, run_state
from evalharness.store import Run, open_store
from tests.support.helpers import write_echo_task

ROWS = 12


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    task = write_echo_task(tmp_path, ROWS, "exact_match")
    log = tmp_path / "requests.log"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"model: scripted\nmodel_args: {{delay_s: 0.4, log_path: '{log}'}}\ntasks: ['{task}']\n"
    )
    return config, log


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evalharness.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def _interrupted_run(tmp_path: Path, db_url: str, env: dict[str, str]) -> tuple[str, Path]:
    """A run killed with SIGKILL after a few samples; returns its id and the request log."""
    config, log = _setup(tmp_path)
    args = ("run", str(config), "--db", db_url, "--no-report", "--no-cache", "--chunk-size", "2")
    proc = _cli(*args, env=env)
    store = open_store(db_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = store.runs()
        if runs and len(store.samples(runs[0].id)) >= 4:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (run,) = store.runs()
    return run.id, log


def _requests(log: Path) -> list[str]:
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def env() -> dict[str, str]:
    return {"EVALHARNESS_LEASE_TTL_S": "1.5", "HF_HUB_OFFLINE": "1"}


def test_kill_9_shows_interrupted_then_resume_completes(
    tmp_path: Path, db_url: str, env: dict[str, str]
) -> None:
    run_id, log = _interrupted_run(tmp_path, db_url, env)
    store = open_store(db_url)
    run = store.get_run(run_id)
    assert run.status == "running"
    time.sleep(2.0)  # the dead process's heartbeat has stopped: its lease expires
    assert run_state(store, run) == "interrupted"
    listing = subprocess.run(
        [sys.executable, "-m", "evalharness.cli", "list", "runs", "--db", db_url],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    row = next(line for line in listing.stdout.splitlines() if line.startswith(run_id))
    assert row.split()[3] == "interrupted"  # id, model, tasks, status, …
    stored = {s.idx for s in store.samples(run_id)}
    before = len(_requests(log))
    resumed = _cli("run", "--resume", run_id, "--db", db_url, "--no-report", env=env)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    sent = _requests(log)[before:]
    assert sorted(sent) == sorted(f"Say w{i}" for i in range(ROWS) if i not in stored)
    assert store.get_run(run_id).status == "finished"
    assert sorted(s.idx for s in store.samples(run_id)) == list(range(ROWS))


def test_two_resumes_at_once_one_is_refused_and_nothing_repeats(
    tmp_path: Path, db_url: str, env: dict[str, str]
) -> None:
    run_id, log = _interrupted_run(tmp_path, db_url, env)
    store = open_store(db_url)
    time.sleep(2.0)
    stored = {s.idx for s in store.samples(run_id)}
    before = len(_requests(log))
    args = ("run", "--resume", run_id, "--db", db_url, "--no-report")
    procs = [_cli(*args, env=env) for _ in range(2)]
    results = [(p.returncode, *p.communicate(timeout=300)) for p in procs]
    results = [(p.returncode, out, err) for p, (_, out, err) in zip(procs, results, strict=True)]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    (refused,) = [err for code, _, err in results if code == 2]
    lines = [line for line in refused.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in refused, refused
    assert f"run {run_id} (run) is being executed by " in lines[0]
    sent = _requests(log)[before:]
    assert len(sent) == len(set(sent)) == ROWS - len(stored)  # no request went out twice
    assert store.get_run(run_id).status == "finished"  # the refused one marked nothing failed
    assert sorted(s.idx for s in store.samples(run_id)) == list(range(ROWS))


def test_lease_is_exclusive_until_stale_then_taken_over(db_url: str) -> None:
    store = open_store(db_url)
    first = acquire(store, "r1", "shard:0/2", ttl=0.6)
    first._stop.set()  # stop its heartbeat, as if its process had died
    with pytest.raises(StoreError, match=r"run r1 \(shard:0/2\) is being executed by .+:\d+:"):
        acquire(store, "r1", "shard:0/2", ttl=0.6)
    other = acquire(store, "r1", "shard:1/2", ttl=0.6)  # another scope is free
    time.sleep(0.8)
    second = acquire(store, "r1", "shard:0/2", ttl=5)
    assert second.owner != first.owner
    assert not first.heartbeat() and first.lost.is_set()  # the old owner learns it lost it
    assert second.heartbeat()
    for lease in (second, other):
        lease.release()
    assert run_state(store, Run(id="r1", model="m", status="finished")) == "finished"
    assert run_state(store, Run(id="r1", model="m", status="running")) == "interrupted"
