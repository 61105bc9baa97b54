"""--retry-failed, credentials kept out of the store, and the desk's human-only annotators."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalharness import api
from evalharness.errors import ConfigError, DataError
from evalharness.judges.rubric import load_rubric
from evalharness.models.scripted import ScriptedModel
from evalharness.preflight import redact_url
from evalharness.ratings.desk import QueueItem, submit
from evalharness.ratings.records import RatedItem, add_items, ensure_annotator
from evalharness.store import open_store
from tests.support.helpers import ECHO_TASK, free_port

ROWS = "".join(f'{{"word": "w{i}"}}\n' for i in range(5))


def _task(tmp_path: Path) -> str:
    (tmp_path / "rows.jsonl").write_text(ROWS)
    (tmp_path / "echo.yaml").write_text(ECHO_TASK)
    return str(tmp_path / "echo.yaml")


def _dead_server_run(tmp_path: Path, db_url: str, base_url: str) -> str:
    """A run against a port nobody listens on: every sample fails."""
    out = api.evaluate(
        "openai:x",
        [_task(tmp_path)],
        db=db_url,
        model_args={"base_url": base_url, "max_attempts": 1, "timeout_s": 2},
        cache=False,
    )
    return out["run_id"]


def test_resume_retry_failed_resends_only_the_failed_samples(tmp_path: Path, db_url: str) -> None:
    run_id = _dead_server_run(tmp_path, db_url, f"http://127.0.0.1:{free_port()}/v1")
    store = open_store(db_url)
    assert all(s.error for s in store.samples(run_id)) and len(store.samples(run_id)) == 5
    answers = {f"Say w{i}": f"w{i}" for i in range(5)}
    plain = ScriptedModel(answers)
    api.resume(run_id, db=db_url, model=plain)  # without the flag: failed samples stay
    assert plain.calls == [] and all(s.error for s in store.samples(run_id))
    model = ScriptedModel(answers)
    out = api.resume(run_id, db=db_url, model=model, retry_failed=True)
    assert model.calls == ["generate:5"]
    assert [s.error for s in store.samples(run_id)] == [None] * 5
    assert out["results"]["echo"]["exact_match"]["value"] == 1.0
    assert out["results"]["echo"]["exact_match"]["n_failed"] == 0


def test_credentials_in_base_url_are_not_stored(tmp_path: Path, db_url: str) -> None:
    port = free_port()
    url = f"http://alice:s3cret-key@127.0.0.1:{port}/v1?api_key=k-777&region=eu"
    run_id = _dead_server_run(tmp_path, db_url, url)
    stored = open_store(db_url).get_run(run_id).config["model_args"]["base_url"]
    assert stored == f"http://alice:***@127.0.0.1:{port}/v1?api_key=%2A%2A%2A&region=eu"
    raw = (tmp_path / "store.db").read_bytes() + (tmp_path / "store.db-wal").read_bytes()
    assert b"s3cret-key" not in raw and b"k-777" not in raw
    with pytest.raises(ConfigError, match="credentials in the URL were not stored"):
        api.resume(run_id, db=db_url)
    assert redact_url("https://h/v1?token=t&x=1") == "https://h/v1?token=%2A%2A%2A&x=1"
    assert redact_url("https://key@h/v1") == "https://***@h/v1"


def test_the_desk_refuses_a_judge_or_metric_as_annotator(db_url: str) -> None:
    store = open_store(db_url)
    rubric = load_rubric("summeval")
    add_items(store, [RatedItem(id="i1", dataset="d", source="s", response="r")])
    ensure_annotator(store, "gpt-4", kind="judge")
    ensure_annotator(store, "rouge", kind="metric")
    item = QueueItem("i1", "s", "r")
    answers = {c.name: 3 for c in rubric.criteria}
    for name, kind in (("gpt-4", "judge"), ("rouge", "metric")):
        with pytest.raises(DataError, match=f"annotator '{name}' is a {kind}, not a human"):
            submit(store, name, item, rubric, answers)
    assert submit(store, "alice", item, rubric, answers) == len(rubric.criteria)
