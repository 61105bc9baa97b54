"""``--executor ray`` on a real local Ray cluster: the same samples as in-process, and a
replica killed with SIGKILL mid-run loses nothing and repeats no finished chunk."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalharness import evaluate
from evalharness.modelref import ModelRef
from evalharness.store import open_store
from tests.support.helpers import write_echo_task

ray = pytest.importorskip("ray")
from evalharness.ray_pool import RayPoolModel, deal  # noqa: E402

ROWS = 16
ANSWERS = {f"Say w{i}": f"w{i}" if i % 4 else "nope" for i in range(ROWS)}


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def task(tmp_path: Path) -> Path:
    return write_echo_task(tmp_path, ROWS)


def _rows(db_url: str, run_id: str, task: str = "echo") -> list[tuple]:
    samples = open_store(db_url).samples(run_id, task)
    return [(s.idx, s.prompt, s.output, s.scores, s.error) for s in samples]


def test_deal_spreads_the_longest_requests() -> None:
    sizes = [5, 1, 9, 3, 7, 2]
    shares = deal([type("R", (), {"text": "x" * n})() for n in sizes], 2)
    assert shares == [[2, 0, 5], [4, 3, 1]]  # 9, 5, 2 and 7, 3, 1


def test_two_replicas_give_the_in_process_samples(task: Path, db_url: str) -> None:
    pool = RayPoolModel(ModelRef("scripted", {"answers": ANSWERS}), replicas=2)
    assert len(set(pool.pids)) == 2 and os.getpid() not in pool.pids
    spread = evaluate(pool, [str(task)], db=db_url, cache=False, chunk_size=5)
    alone = evaluate("scripted", [str(task)], db=db_url, model_args={"answers": ANSWERS},
                     cache=False)  # fmt: skip
    assert _rows(db_url, spread["run_id"]) == _rows(db_url, alone["run_id"])
    assert spread["results"] == alone["results"]


def test_a_replica_killed_mid_run_loses_and_repeats_nothing(
    tmp_path: Path, task: Path, db_url: str
) -> None:
    log = tmp_path / "prompts.log"
    ref = ModelRef("scripted", {"answers": ANSWERS, "delay_s": 0.4, "log_path": str(log)})
    pool = RayPoolModel(ref, replicas=2)
    store = open_store(db_url)
    result: dict = {}
    runner = threading.Thread(
        target=lambda: result.update(
            evaluate(pool, [str(task)], db=db_url, cache=False, chunk_size=4)
        )  # fmt: skip
    )
    runner.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        store.runs() and len(store.done_indices(store.runs()[0].id, "echo")) >= 4
    ):
        time.sleep(0.05)
    time.sleep(0.1)  # into the next chunk
    os.kill(pool.pids[0], signal.SIGKILL)  # the OS process, not a raised exception
    runner.join(timeout=180)
    assert not runner.is_alive() and result, "the run did not finish after a replica died"
    run_id = result["run_id"]
    assert [s.idx for s in store.samples(run_id, "echo")] == list(range(ROWS))
    assert store.get_run(run_id).status == "finished"
    assert pool.replica_pids()[0] != pool.pids[0]  # Ray restarted the replica
    sent = Counter(json.loads(line) for line in log.read_text().splitlines())
    assert set(sent) == set(ANSWERS)
    assert sum(sent.values()) - ROWS <= 2, sent  # only the killed replica's share is re-sent


def test_embedded_model_on_two_replicas(db_url: str) -> None:
    pool = RayPoolModel(ModelRef("embedded", {"batch_size": 4}), replicas=2)
    tasks = ["piqa", "flores_en_de"]
    spread = evaluate(pool, tasks, db=db_url, limit=6, cache=False)
    alone = evaluate("embedded", tasks, db=db_url, limit=6, cache=False,
                     model_args={"batch_size": 4})  # fmt: skip
    store = open_store(db_url)
    for a, b in zip(store.samples(spread["run_id"]), store.samples(alone["run_id"]), strict=True):
        assert (a.task, a.idx, a.output, a.error) == (b.task, b.idx, b.output, b.error)
        if a.task == "piqa":
            assert a.result["logprobs"] == pytest.approx(b.result["logprobs"], abs=1e-4)


def test_a_tasks_judge_runs_in_the_pool_and_judges_as_in_process(
    tmp_path: Path, task: Path, db_url: str
) -> None:
    """Under ``--executor ray`` a judge of another name loads as Ray replicas too (a judge
    as big as the evaluated model must not land in the driver); its verdicts are the same."""
    from evalharness.judges.records import judgments
    from evalharness.shards import Executor
    from tests.judges.helpers import _uniform

    verdict = json.dumps(_uniform(4))
    task.write_text(
        task.read_text() + "judges:\n  - rubric: summeval\n    model: scripted\n"
        f"    model_args: {{default: {verdict}}}\n    source: '{{{{ word }}}}'\n"
    )
    runs = {}
    for kind, executor in (("ray", Executor("ray", replicas=2)), ("local", Executor())):
        before = _pool_actors()
        runs[kind] = evaluate("scripted", [str(task)], db=db_url, cache=False,
                              model_args={"answers": ANSWERS}, executor=executor)  # fmt: skip
        runs[kind]["new_actors"] = _pool_actors() - before
    assert runs["ray"]["new_actors"] == 4  # two replicas of the evaluated model, two of the judge
    assert runs["local"]["new_actors"] == 0
    judged = runs["ray"]["results"]["echo"]["judge:summeval.coherence"]
    assert judged["n"] == ROWS and judged["value"] == 4
    assert judged == runs["local"]["results"]["echo"]["judge:summeval.coherence"]
    store = open_store(db_url)
    verdicts = {kind: sorted((j.idx, j.criterion, j.score)
                             for j in judgments(store, run["run_id"]))
                for kind, run in runs.items()}  # fmt: skip
    assert verdicts["ray"] == verdicts["local"] and len(verdicts["ray"]) == ROWS * 4


def _pool_actors() -> int:
    actors = ray._private.state.actors().values()  # the GCS table; needs no dashboard
    return sum(1 for actor in actors if actor["ActorClassName"].endswith("_Replica"))
