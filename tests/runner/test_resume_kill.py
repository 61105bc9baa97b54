"""A run killed with SIGKILL mid-way resumes with only the missing samples: none lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from evalharness import evaluate
from evalharness.store import open_store
from tests.support.helpers import run_cli

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)

TASK = """\
name: echo
dataset:
  path: rows.jsonl
output_type: generate
prompt: "Say {{ word }}"
references: "word"
metrics: [exact_match, bleu]
"""


def test_kill_9_then_resume(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "rows.jsonl").write_text(
        "".join(json.dumps({"word": f"w{i % 3}"}) + "\n" for i in range(40))
    )
    task = tmp_path / "echo.yaml"
    task.write_text(TASK)
    log = tmp_path / "prompts.log"
    config = tmp_path / "run.yaml"
    args = {"default": "w1", "delay_s": 0.25, "log_path": str(log)}
    config.write_text(json.dumps({"model": "scripted", "model_args": args, "tasks": [str(task)]}))
    command = [sys.executable, "-m", "evalharness.cli", "run", str(config), "--db", db_url]
    command += ["--chunk-size", "4", "--no-cache", "--no-report"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = open_store(db_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = store.runs()
        if runs and len(store.done_indices(runs[0].id, "echo")) >= 12:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    run_id = store.runs()[0].id
    finished_before = store.done_indices(run_id, "echo")
    assert 12 <= len(finished_before) < 40 and store.get_run(run_id).status == "running"

    result = run_cli("run", "--resume", run_id, "--db", db_url, "--no-report")
    assert result.returncode == 0, result.stderr
    samples = store.samples(run_id, "echo")
    assert [s.idx for s in samples] == list(range(40))  # none missing, none doubled
    assert store.get_run(run_id).status == "finished"

    sent = Counter(json.loads(line) for line in log.read_text().splitlines())
    # The same prompt text recurs (w0/w1/w2); count per text against its number of rows.
    per_text = Counter(f"Say w{i % 3}" for i in range(40))
    in_flight = sum(sent.values()) - 40  # the chunk cut by the kill is the only thing re-sent
    assert 0 <= in_flight <= 4, sent
    assert all(sent[text] >= per_text[text] for text in per_text)

    uninterrupted = evaluate(
        "scripted", [str(task)], db=db_url, model_args={"default": "w1"}, cache=False
    )
    aggregates = {a.metric: (a.value, a.ci_low, a.ci_high, a.n) for a in store.aggregates(run_id)}
    for metric, agg in uninterrupted["results"]["echo"].items():
        assert aggregates[metric] == (agg["value"], agg["ci_low"], agg["ci_high"], agg["n"])
