"""``--run-id ID --shard I/N``: N processes fill one run with disjoint items, aggregated once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from evalharness import evaluate
from evalharness.errors import ConfigError
from evalharness.shards import Shard
from evalharness.store import open_store
from tests.support.helpers import run_cli, write_echo_task

ROWS = 18
ANSWERS = {f"Say w{i}": f"w{i}" if i % 3 else "nope" for i in range(ROWS)}


@pytest.fixture
def task(tmp_path: Path) -> Path:
    return write_echo_task(tmp_path, ROWS)


def _config(tmp_path: Path, task: Path, **model_args: object) -> Path:
    config = tmp_path / "run.yaml"
    args = {"answers": ANSWERS, **model_args}
    config.write_text(json.dumps({"model": "scripted", "model_args": args, "tasks": [str(task)]}))
    return config


def _shard_command(config: Path, db_url: str, shard: str) -> list[str]:
    return [
        sys.executable, "-m", "evalharness.cli", "run", str(config), "--db", db_url,
        "--run-id", "sharded", "--shard", shard, "--chunk-size", "2", "--no-cache", "--no-report",
    ]  # fmt: skip


def _rows(db_url: str, run_id: str) -> list[tuple]:
    return [
        (s.idx, s.prompt, s.output, s.scores, s.stats, s.error)
        for s in open_store(db_url).samples(run_id, "echo")
    ]


def test_parse_shard() -> None:
    assert Shard.parse("1/4") == Shard(1, 4) and Shard.parse(" 0 / 1 ").owns(7)
    for bad in ("4/4", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(ConfigError, match="--shard"):
            Shard.parse(bad)


def test_two_concurrent_shards_equal_one_process(tmp_path: Path, task: Path, db_url: str) -> None:
    config = _config(tmp_path, task, delay_s=0.05)
    open_store(db_url)  # a shared store exists before its shards start (PostgreSQL, say)
    shards = [subprocess.Popen(_shard_command(config, db_url, f"{i}/2")) for i in range(2)]
    assert [p.wait(timeout=120) for p in shards] == [0, 0]
    store = open_store(db_url)
    assert store.get_run("sharded").status == "finished"
    single = evaluate("scripted", [str(task)], db=db_url, model_args={"answers": ANSWERS},
                      cache=False)  # fmt: skip
    assert _rows(db_url, "sharded") == _rows(db_url, single["run_id"])
    sharded = {(a.metric, a.value, a.ci_low, a.ci_high, a.n) for a in store.aggregates("sharded")}
    alone = {(a.metric, a.value, a.ci_low, a.ci_high, a.n)
             for a in store.aggregates(single["run_id"])}  # fmt: skip
    assert sharded == alone and len(sharded) == 2


def test_finalize_waits_for_every_shard(tmp_path: Path, task: Path, db_url: str) -> None:
    config = _config(tmp_path, task)
    first = run_cli(*_shard_command(config, db_url, "0/3")[3:])
    assert first.returncode == 0, first.stderr
    assert "shard 0/3 of run sharded done" in first.stdout
    early = run_cli("finalize", "sharded", "--db", db_url, "--no-report")
    assert early.returncode == 2 and "echo: 12 missing" in early.stderr
    assert len(early.stderr.strip().splitlines()) == 1
    for shard in ("1/3", "2/3"):
        assert run_cli(*_shard_command(config, db_url, shard)[3:]).returncode == 0
    store = open_store(db_url)
    assert store.get_run("sharded").status == "finished"  # the last shard aggregated
    assert [s.idx for s in store.samples("sharded", "echo")] == list(range(ROWS))
    again = run_cli("finalize", "sharded", "--db", db_url, "--no-report")
    assert again.returncode == 0, again.stderr
    assert {a.metric: a.n for a in store.aggregates("sharded")} == {"exact_match": ROWS,
                                                                    "bleu": ROWS}  # fmt: skip


def test_a_shard_joining_with_other_settings_is_refused(
    tmp_path: Path, task: Path, db_url: str
) -> None:
    config = _config(tmp_path, task)
    assert run_cli(*_shard_command(config, db_url, "0/2")[3:]).returncode == 0
    other = run_cli(*_shard_command(config, db_url, "1/2")[3:], "--limit", "5")
    assert other.returncode == 2 and "--run-id sharded: limit differs" in other.stderr
    alone = run_cli("run", str(config), "--db", db_url, "--shard", "1/2", "--no-report")
    assert alone.returncode == 2 and "--shard and --run-id go together" in alone.stderr


def test_a_killed_shard_rerun_does_only_its_missing_items(
    tmp_path: Path, task: Path, db_url: str
) -> None:
    log = tmp_path / "prompts.log"
    config = _config(tmp_path, task, delay_s=0.3, log_path=str(log))
    process = subprocess.Popen(_shard_command(config, db_url, "0/2"), stderr=subprocess.PIPE)
    store = open_store(db_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if store.find_run("sharded") and len(store.done_indices("sharded", "echo")) >= 4:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = store.done_indices("sharded", "echo")
    assert 4 <= len(before) < ROWS // 2 and all(idx % 2 == 0 for idx in before)
    assert run_cli(*_shard_command(config, db_url, "0/2")[3:]).returncode == 0
    assert run_cli(*_shard_command(config, db_url, "1/2")[3:]).returncode == 0
    assert [s.idx for s in store.samples("sharded", "echo")] == list(range(ROWS))
    sent = Counter(json.loads(line) for line in log.read_text().splitlines())
    assert set(sent) == {f"Say w{i}" for i in range(ROWS)}
    repeated = sum(sent.values()) - ROWS  # only the chunk the kill cut is sent twice
    assert 0 <= repeated <= 2, sent
    assert store.get_run("sharded").status == "finished"
