"""HumanEval's sandbox: canonical solutions pass, hostile generations are contained (asserted by
their effect on the host), pass@k is Chen et al.'s estimator. All 164 canonical solutions:
``benchmarks/humaneval_canonical.py``."""

from __future__ import annotations

import json
import socket
import time
from math import comb
from pathlib import Path

import pytest

from evalharness.errors import ConfigError
from evalharness.metrics import get_metric
from evalharness.metrics.base import Outcome
from evalharness.metrics.code import pass_at_k
from evalharness.sandbox import (
    NOBODY,
    UNSAFE_VAR,
    Limits,
    check_sandbox,
    namespaces_work,
    run_python,
)
from tests.support.helpers import data_lines

QUICK = Limits(timeout_s=3, cpu_s=2)


def _problems() -> list[dict]:
    return [json.loads(line) for line in data_lines("humaneval", "HumanEval.jsonl")]


def _outcome(problem: dict, *completions: str) -> Outcome:
    refs = (problem["prompt"], problem["test"], problem["entry_point"])
    return Outcome(prediction=completions[0], predictions=completions, references=refs)


def _sandbox_processes() -> list[int]:
    """Processes of the sandbox user still alive anywhere on the host."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid_line = next(x for x in status.read_text().splitlines() if x.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if int(uid_line.split()[1]) == NOBODY:
            pids.append(int(status.parent.name))
    return pids


@pytest.fixture(autouse=True)
def _full_sandbox() -> None:
    assert check_sandbox() is True, "these tests need root and unshare (as CI has)"


def test_canonical_solutions_pass_and_an_empty_answer_fails() -> None:
    problems = _problems()
    assert len(problems) == 164
    chosen = [problems[i] for i in (0, 2, 31, 100, 163)]
    metric = get_metric("pass@1")
    good = metric.stats([_outcome(p, p["canonical_solution"]) for p in chosen])
    assert metric.value(good) == 1.0
    empty = metric.stats([_outcome(p, "") for p in chosen])
    assert metric.value(empty) == 0.0


def test_runs_at_the_same_time_do_not_kill_each_other() -> None:
    """A finished run's namespace number is handed to the next namespace made; the clean-up of
    the first must not take the second's processes for its own (it did: 8 of 200 failed)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: run_python("import time\ntime.sleep(0.01)\n"), range(80)))
    failed = [r for r in results if not r.passed]
    assert not failed, failed[:3]


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    for n, c, k in [(5, 2, 2), (10, 3, 1), (10, 3, 5), (20, 0, 10), (4, 4, 3)]:
        assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))
    p = _problems()[0]
    stats = get_metric("pass@2").stats([_outcome(p, p["canonical_solution"], "", "", "")])
    assert stats[0, 0] == pytest.approx(1 - comb(3, 2) / comb(4, 2))  # n=4, c=1
    with pytest.raises(ValueError, match=r"pass@3 needs 0 <= c <= n and n >= k"):
        pass_at_k(2, 1, 3)


def test_fork_bomb_and_background_children_do_not_survive() -> None:
    assert not _sandbox_processes()
    bomb = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    started = time.perf_counter()
    result = run_python(bomb, QUICK)
    assert not result.passed and time.perf_counter() - started < 10
    assert not _sandbox_processes()
    daemon = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
    assert run_python(daemon, QUICK).passed  # the parent exits 0 at once
    assert not _sandbox_processes()


def test_rm_rf_of_host_files_leaves_them(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious", encoding="utf-8")
    hostile = (
        "import shutil, os\n"
        f"shutil.rmtree({str(victim)!r}, ignore_errors=True)\n"
        f"os.system('rm -rf {victim} /tmp/* 2>/dev/null')\n"
        f"open({str(victim / 'keep.txt')!r}, 'w').write('gone')\n"
    )
    result = run_python(hostile, QUICK)
    assert not result.passed and "PermissionError" in result.output
    assert (victim / "keep.txt").read_text(encoding="utf-8") == "precious"


def test_infinite_loop_and_huge_output_are_cut_off() -> None:
    started = time.perf_counter()
    loop = run_python("while True:\n    pass\n", QUICK)
    assert not loop.passed and time.perf_counter() - started < 6
    flood = run_python("while True:\n    print('x' * 100000)\n", Limits(timeout_s=20, file_mb=1))
    assert flood.status == "failed" and flood.seconds < 15  # stopped by the file-size limit
    assert len(flood.output) <= 4096
    assert not _sandbox_processes()


def test_no_connection_reaches_a_host_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        port = listener.getsockname()[1]
        hostile = (
            "import socket\n"
            f"s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "s.sendall(b'stolen')\n"
        )
        result = run_python(hostile, QUICK)
        assert not result.passed and "OSError" in result.output
        listener.setblocking(False)
        with pytest.raises(BlockingIOError, match="Errno 11"):
            listener.accept()  # nobody connected


def test_without_namespaces_running_is_refused_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no unshare on this PATH
    namespaces_work.cache_clear()
    try:
        with pytest.raises(ConfigError, match=rf"unshare cannot create .*set {UNSAFE_VAR}=1"):
            run_python("print(1)")
        monkeypatch.setenv(UNSAFE_VAR, "1")
        assert check_sandbox() is False
    finally:
        namespaces_work.cache_clear()


def test_humaneval_task_runs_on_the_embedded_model(db_url: str) -> None:
    from evalharness.api import evaluate

    sampling = {"max_tokens": 48}  # a short completion: the run, not its quality, is tested
    out = evaluate("embedded", ["humaneval"], limit=2, db=db_url, cache=False, sampling=sampling)
    agg = out["results"]["humaneval"]["pass@1"]
    assert agg["n"] == 2 and agg["n_failed"] == 0 and agg["value"] in (0.0, 0.5, 1.0)
