"""Response cache, sampling overrides, sweeps and best-of-N (scripted model, real cache file)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from evalharness import evaluate
from evalharness.cache import CachedModel, ResponseCache
from evalharness.errors import ConfigError
from evalharness.modelref import parse_overrides
from evalharness.models.scripted import ScriptedModel
from evalharness.requests import GenerateRequest, Sampling
from evalharness.store import open_store
from tests.support.helpers import run_cli

TASK = """\
name: echo
dataset:
  path: rows.jsonl
output_type: generate
prompt: "Say {{ word }}"
references: "word"
generation:
  max_tokens: 16
  stop: ["\\n"]
metrics: [exact_match]
"""


def _task(tmp_path: Path, n: int = 6) -> Path:
    (tmp_path / "rows.jsonl").write_text(
        "".join(json.dumps({"word": f"w{i}"}) + "\n" for i in range(n))
    )
    path = tmp_path / "echo.yaml"
    path.write_text(TASK)
    return path


class Slow(ScriptedModel):
    def generate(self, requests):
        time.sleep(0.05 * len(requests))
        return super().generate(requests)


def test_repeated_run_makes_no_model_calls(tmp_path: Path, db_url: str) -> None:
    task = _task(tmp_path, n=20)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    answers = {f"Say w{i}": f"w{i}" for i in range(20)}
    first_model = Slow(answers)
    started = time.perf_counter()
    first = evaluate(first_model, [str(task)], db=db_url, cache=cache)
    first_s = time.perf_counter() - started
    again_model = Slow(answers)
    started = time.perf_counter()
    again = evaluate(again_model, [str(task)], db=db_url, cache=cache)
    again_s = time.perf_counter() - started
    assert first_model.calls == ["generate:20"] and again_model.calls == []
    assert again["results"] == first["results"] and again["run_id"] != first["run_id"]
    assert again_s < first_s / 2
    fresh = Slow(answers)
    evaluate(fresh, [str(task)], db=db_url, cache=False)
    assert fresh.calls == ["generate:20"]


def test_cache_key_covers_model_identity_and_sampling(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    greedy = GenerateRequest("Say w0", Sampling())
    a = CachedModel(ScriptedModel({"Say w0": "a"}), cache)
    b = CachedModel(ScriptedModel({"Say w0": "b"}), cache)
    assert a.generate([greedy])[0].texts == ("a",)
    assert b.generate([greedy])[0].texts == ("b",)  # another model: no hit
    assert a.generate([greedy])[0].texts == ("a",) and a.hits == 1
    seeded = GenerateRequest("Say w0", Sampling(temperature=0.7, seed=3))
    unseeded = GenerateRequest("Say w0", Sampling(temperature=0.7))
    a.generate([seeded, unseeded])
    a.generate([seeded, unseeded])
    assert a.model.calls[-1] == "generate:1"  # the seeded sample was cached, the unseeded never


def test_failed_responses_are_not_cached(tmp_path: Path) -> None:
    from evalharness.requests import Generation

    class Down(ScriptedModel):
        def generate(self, requests):
            super().generate(requests)
            return [Generation(texts=(), error="connection refused") for _ in requests]

    cache = ResponseCache(tmp_path / "cache.sqlite")
    model = CachedModel(Down(), cache)
    request = GenerateRequest("Say w0")
    model.generate([request])
    model.generate([request])
    assert model.model.calls == ["generate:1", "generate:1"]


def test_parse_overrides_types_and_lists() -> None:
    parsed = parse_overrides('temperature=[0, 0.7],top_p=0.9,stop=["\\n", "Q:"],seed=3')
    assert parsed == {"temperature": [0, 0.7], "top_p": 0.9, "stop": ["\n", "Q:"], "seed": 3}
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides("temperature")


def test_sweep_runs_one_variant_per_value(tmp_path: Path, db_url: str) -> None:
    task = _task(tmp_path, n=3)
    out = evaluate(
        ScriptedModel(), [str(task)], db=db_url, sampling={"temperature": [0, 0.7], "seed": 1}
    )
    assert set(out["results"]) == {"echo[temperature=0]", "echo[temperature=0.7]"}
    run = open_store(db_url).get_run(out["run_id"])
    assert run.config["sampling"] == {"temperature": [0, 0.7], "seed": 1}


def test_bad_sampling_setting_is_a_config_error(tmp_path: Path, db_url: str) -> None:
    task = _task(tmp_path, n=2)
    with pytest.raises(ConfigError, match="temperatur"):
        evaluate(ScriptedModel(), [str(task)], db=db_url, sampling={"temperatur": 0.5})
    result = run_cli(
        "run",
        "--model",
        "scripted",
        "--tasks",
        str(task),
        "--db",
        db_url,
        "--sampling",
        "top_p=high",
    )
    assert result.returncode == 2 and "top_p" in result.stderr and "Traceback" not in result.stderr


def test_best_of_n_selects_by_mean_token_loglikelihood(tmp_path: Path, db_url: str) -> None:
    from evalharness.requests import Generation, LoglikelihoodResult

    class Candidates(ScriptedModel):
        def generate(self, requests):
            return [Generation(texts=("nope", "w0", "never")[: r.sampling.n]) for r in requests]

        def loglikelihood(self, requests):  # the right word is the likeliest per token
            return [
                LoglikelihoodResult(
                    logprob=-1.0 if r.continuation == "w0" else -9.0, is_greedy=False, n_tokens=1
                )
                for r in requests
            ]

    task = _task(tmp_path, n=1)
    plain = evaluate(Candidates(), [str(task)], db=db_url, cache=False)
    best = evaluate(
        Candidates(),
        [str(task)],
        db=db_url,
        sampling={"best_of_n": 3, "temperature": 0.8},
        cache=False,
    )
    assert plain["results"]["echo"]["exact_match"]["value"] == 0.0
    assert best["results"]["echo"]["exact_match"]["value"] == 1.0
    sample = open_store(db_url).samples(best["run_id"])[0]
    assert sample.result["texts"] == ["nope", "w0", "never"] and sample.result["selected"] == 1


def test_best_of_n_judge_selector_is_loaded_once_with_its_options(
    tmp_path: Path, db_url: str
) -> None:
    """``selector_model`` and ``selector_model_args`` name the judge that picks (a ModelRef):
    it is built with those options, and the evaluated model is not asked to judge."""
    from evalharness.requests import Generation

    asked_evaluated: list = []

    class Candidates(ScriptedModel):
        def generate(self, requests):
            asked_evaluated.extend(requests)
            return [Generation(texts=("a", "w0", "b")[: r.sampling.n]) for r in requests]

    log = tmp_path / "judge.jsonl"
    task = _task(tmp_path, n=1)
    sampling = {
        "best_of_n": 3,
        "temperature": 0.8,
        "selector": "judge:pairwise_preference",
        "selector_model": "scripted",
        "selector_model_args": {"log_path": str(log), "default": "not a verdict"},
    }
    out = evaluate(Candidates(), [str(task)], db=db_url, sampling=sampling, cache=False)
    assert out["results"]["echo"]["exact_match"]["n"] == 1
    assert len(asked_evaluated) == 1  # the generation only: the evaluated model never judged
    judged = log.read_text(encoding="utf-8")
    assert "w0" in judged  # the selector model, built with its log_path, saw the candidates
