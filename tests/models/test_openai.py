"""The OpenAI-compatible backend against a real llama.cpp server and, for fault tolerance,
a deterministic fake API behind a proxy that injects faults (tests/support/faulty_proxy.py)."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from evalharness import evaluate
from evalharness.errors import ConfigError, ModelError
from evalharness.models import load_model
from evalharness.models.http_retry import parse_retry_after
from evalharness.models.openai_api import OpenAIModel
from evalharness.report import write_report
from evalharness.requests import (
    GenerateRequest,
    LoglikelihoodRequest,
    RollingRequest,
    Sampling,
)
from evalharness.store import open_store
from tests.support.faulty_proxy import FakeOpenAI, FaultyProxy, fake_answer
from tests.support.helpers import ECHO_TASK, free_port, stop

CAPITALS_TASK = """\
name: capitals
dataset:
  path: capitals.jsonl
output_type: generate
format: chat
system_prompt: "Answer with the city name only."
prompt: "What is the capital of {{ country }}?"
references: "[capital]"
generation: {max_tokens: 12}
metrics: [exact_match]
"""
PERPLEXITY_TASK = """\
name: ppl
dataset:
  path: rows.jsonl
output_type: perplexity
text: "{{ word }}"
metrics: [perplexity]
"""


def _task(tmp_path: Path, text: str, rows: list[dict], data: str = "rows.jsonl") -> Path:
    (tmp_path / data).write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / f"{text.split()[1]}.yaml"
    path.write_text(text)
    return path


def _evaluate(model: str, task: Path, db: str, model_args: dict | None = None) -> dict:
    """A run without the shared response cache: every request reaches the server."""
    return evaluate(model, [str(task)], db=db, model_args=model_args or {}, cache=False)


# -- options, refusals ---------------------------------------------------------------------------


def test_each_backend_validates_its_own_options() -> None:
    with pytest.raises(ConfigError, match="unknown option.*max_concurrency"):
        load_model("hf:some/model", max_concurrency=4)
    with pytest.raises(ConfigError, match="unknown option.*batch_size"):
        load_model("openai:gpt-x", batch_size=8)
    with pytest.raises(ConfigError, match="max_batch_tokens is too small: 0"):
        load_model("hf:some/model", max_batch_tokens=0)
    with pytest.raises(ConfigError, match="max_batch_tokens must be int"):
        load_model("embedded", max_batch_tokens="many")
    with pytest.raises(ConfigError, match="api_key_env must be the NAME") as info:
        load_model("openai:gpt-x", api_key_env="sk-live-abc123")
    assert "sk-live-abc123" not in str(info.value)
    with pytest.raises(ConfigError, match="max_attempts"):
        load_model("openai:gpt-x", max_attempts=0)
    model = load_model("openai:gpt-x", base_url="http://10.1.2.3:8000")
    assert model.name == "openai:gpt-x@10.1.2.3:8000"
    assert model.capabilities == frozenset({"generate"})
    assert load_model("openai:m", logprobs=True).capabilities >= {"loglikelihood_rolling"}


def test_top_k_refused_before_any_request_unless_extra_sampling() -> None:
    with FakeOpenAI() as fake:
        requests = [GenerateRequest("Say a"), GenerateRequest("Say b", Sampling(top_k=40))]
        with pytest.raises(ModelError, match="request 1 sets top_k=40.*extra_sampling"):
            OpenAIModel("fake", base_url=fake.url).generate(requests)
        assert fake.bodies == []
        out = OpenAIModel("fake", base_url=fake.url, extra_sampling=True).generate(requests)
    assert [g.texts for g in out] == [("a",), ("b",)]
    bodies = {body["prompt"]: body for body in fake.bodies}  # sent concurrently: any order
    assert "top_k" not in bodies["Say a"] and bodies["Say b"]["top_k"] == 40


def test_runner_refuses_scoring_tasks_without_logprobs(tmp_path: Path, db_url: str) -> None:
    task = _task(tmp_path, PERPLEXITY_TASK, [{"word": "hello there"}])
    with (
        FakeOpenAI() as fake,
        pytest.raises(ModelError, match="needs loglikelihood_rolling") as info,
    ):
        _evaluate("openai:fake", task, db_url, {"base_url": fake.url})
    assert "needs loglikelihood_rolling" in str(info.value) and "\n" not in str(info.value)
    assert fake.bodies == []


def test_stream_records_time_to_first_token_and_cost() -> None:
    prices = {"prompt": 2.0, "completion": 10.0}
    requests = [GenerateRequest(f"Say w{i}") for i in range(6)]
    requests.append(GenerateRequest(({"role": "user", "content": "Say hi"},)))
    with FakeOpenAI() as fake:
        plain = OpenAIModel("fake", base_url=fake.url, prices=prices).generate(requests)
        streamed = OpenAIModel("fake", base_url=fake.url, stream=True).generate(requests)
    assert [g.texts for g in streamed] == [g.texts for g in plain]
    assert [g.texts[0] for g in plain[:6]] == [fake_answer(f"Say w{i}") for i in range(6)]
    assert all(0 < g.meta["ttft_s"] <= g.latency_s for g in streamed)
    assert plain[0].prompt_tokens == 2 and plain[0].completion_tokens == 1
    assert plain[0].meta["cost_usd"] == pytest.approx((2 * 2.0 + 1 * 10.0) / 1e6)


def test_echo_scoring_on_the_fake_api() -> None:
    with FakeOpenAI() as fake:
        model = OpenAIModel("fake", base_url=fake.url, logprobs=True)
        (result,) = model.loglikelihood([LoglikelihoodRequest("The cat", " sat down")])
        (empty,) = model.loglikelihood([LoglikelihoodRequest("", "sat")])
        (rolling,) = model.loglikelihood_rolling([RollingRequest("a b c d")])
    assert result.n_tokens == 2 and result.error is None and result.logprob < 0
    assert "no log-probability for the continuation's first token" in (empty.error or "")
    assert rolling.n_tokens == 3 and rolling.error is None  # the first token has none


# -- fault tolerance -----------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7
    assert parse_retry_after("Thu, 01 Jan 2015 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None


def test_unreachable_server_gives_failed_rows(tmp_path: Path, db_url: str) -> None:
    task = _task(tmp_path, ECHO_TASK, [{"word": f"w{i}"} for i in range(5)])
    args = {"base_url": f"http://127.0.0.1:{free_port()}/v1", "max_attempts": 2, "backoff_s": 0}
    out = _evaluate("openai:fake", task, db_url, args)
    store = open_store(db_url)
    (run,) = store.runs()
    samples = store.samples(run.id, "echo")
    assert [s.idx for s in samples] == list(range(5))
    for sample in samples:
        assert sample.error.startswith(f"request {sample.idx} POST /v1/completions: failed after 2")
        assert "ConnectError" in sample.error and sample.scores == {}
    assert out["results"]["echo"]["exact_match"]["n_failed"] == 5


def test_faults_leave_every_sample_scored_or_failed_with_a_reason(
    tmp_path: Path, db_url: str
) -> None:
    task = _task(tmp_path, ECHO_TASK, [{"word": f"w{i}"} for i in range(300)])
    store = open_store(db_url)
    rates = dict.fromkeys(("429", "500", "reset", "timeout", "malformed"), 0.06)
    with FakeOpenAI() as fake, FaultyProxy(fake.url, rates, seed=7, hang_s=1.5) as proxy:
        clean = _evaluate("openai:fake", task, db_url, {"base_url": fake.url})
        # The timeout leaves room for a loaded 2-core machine: servers share this process.
        args = {"base_url": proxy.url, "timeout_s": 1.0, "backoff_s": 0.05, "max_concurrency": 16}
        faulty = _evaluate("openai:fake", task, db_url, args)
    assert all(proxy.counts[fault] > 5 for fault in rates), proxy.counts
    assert sum(proxy.counts.values()) > 300 + 60
    reference = {s.idx: s for s in store.samples(clean["run_id"], "echo")}
    assert all(s.error is None for s in reference.values())
    samples = store.samples(faulty["run_id"], "echo")
    assert [s.idx for s in samples] == list(range(300))
    failed = [s for s in samples if s.error is not None]
    for sample in samples:
        if sample.error is None:
            want = reference[sample.idx]
            assert (sample.output, sample.scores) == (want.output, want.scores)
        else:
            assert re.fullmatch(
                r"request \d+ POST /v1/completions: failed after 5 attempt\(s\): .+", sample.error
            )
    assert faulty["results"]["echo"]["exact_match"]["n_failed"] == len(failed) < 15
    assert faulty["results"]["echo"]["exact_match"]["n"] == 300 - len(failed)


@pytest.mark.parametrize("kind", ["seconds", "http-date"])
def test_retry_after_is_honoured(kind: str) -> None:
    value = "1"
    if kind == "http-date":  # whole seconds: 2 s ahead is at least 1 s away
        value = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    with FakeOpenAI() as fake, FaultyProxy(fake.url, script=["429"], retry_after=value) as proxy:
        model = OpenAIModel("fake", base_url=proxy.url, backoff_s=0.01)
        (gen,) = model.generate([GenerateRequest("Say yes")])
    assert gen.texts == (fake_answer("Say yes"),) and gen.meta["attempts"] == 2
    (first, _), (second, _) = proxy.log
    assert second - first >= 0.95
    assert gen.meta["total_s"] >= 0.95 and gen.latency_s < 0.5


def test_attempts_are_capped_and_client_errors_not_retried() -> None:
    with FakeOpenAI() as fake, FaultyProxy(fake.url, {"500": 1.0}) as proxy:
        model = OpenAIModel("fake", base_url=proxy.url, max_attempts=3, backoff_s=0.01)
        out = model.generate([GenerateRequest(f"Say {i}") for i in range(4)])
    assert proxy.counts["500"] == 12 and fake.bodies == []
    for i, gen in enumerate(out):
        assert gen.error == (
            f"request {i} POST /v1/completions: failed after 3 attempt(s): HTTP 500: internal error"
        )
        assert gen.texts == () and gen.meta["attempts"] == 3
    with FakeOpenAI() as fake, FaultyProxy(fake.server.url + "/wrong") as proxy:
        (gen,) = OpenAIModel("fake", base_url=proxy.url).generate([GenerateRequest("Say x")])
    assert len(proxy.log) == 1 and gen.meta["attempts"] == 1
    assert "HTTP 404" in gen.error and gen.error.endswith("(not retried)")


# -- a real server: llama.cpp --------------------------------------------------------------------


@dataclass
class Server:
    url: str
    key: str

    def post(self, path: str, body: dict) -> dict:
        headers = {"Authorization": f"Bearer {self.key}"}
        response = httpx.post(self.url + path, json=body, headers=headers, timeout=300)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pytest.importorskip("llama_cpp.server", reason="pip install -e '.[remote-test]'")
    from evalharness.models.embedded import gguf_path

    port, key = free_port(), "sk-test-" + secrets.token_hex(12)
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--api_key", key]
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}/v1", key)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                headers = {"Authorization": f"Bearer {key}"}
                if httpx.get(server.url + "/models", headers=headers, timeout=5).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama.cpp server did not start"
            time.sleep(0.5)
        yield server
    finally:
        stop(proc)


@pytest.fixture
def key_env(llama: Server, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("EVALHARNESS_TEST_KEY", llama.key)
    return "EVALHARNESS_TEST_KEY"


def test_greedy_generations_equal_direct_server_output(llama: Server, key_env: str) -> None:
    chat = ({"role": "user", "content": "What is the capital of France? Answer in one word."},)
    text = "The three primary colours are"
    model = OpenAIModel("smollm2", base_url=llama.url, api_key_env=key_env)
    sampling = Sampling(max_tokens=16, stop=("\n",))
    got = model.generate([GenerateRequest(chat, sampling), GenerateRequest(text, sampling)])
    body = {"temperature": 0.0, "max_tokens": 16, "stop": ["\n"]}
    direct_chat = llama.post("/chat/completions", {**body, "messages": list(chat)})
    direct_text = llama.post("/completions", {**body, "prompt": text})
    assert got[0].texts == (direct_chat["choices"][0]["message"]["content"],)
    assert got[1].texts == (direct_text["choices"][0]["text"],)
    assert "Paris" in got[0].texts[0]
    assert got[0].prompt_tokens == direct_chat["usage"]["prompt_tokens"] > 10
    streamed = OpenAIModel("smollm2", base_url=llama.url, api_key_env=key_env, stream=True)
    again = streamed.generate([GenerateRequest(chat, sampling)])[0]
    assert again.texts == got[0].texts and 0 < again.meta["ttft_s"] < again.latency_s


def test_loglikelihood_equals_direct_echo_computation(llama: Server, key_env: str) -> None:
    context, continuation = "Question: What is the capital of France?\nAnswer:", " Paris"
    model = OpenAIModel("smollm2", base_url=llama.url, api_key_env=key_env, logprobs=True)
    (got,) = model.loglikelihood([LoglikelihoodRequest(context, continuation)])
    body = {"prompt": context + continuation, "echo": True, "logprobs": 1, "max_tokens": 1}
    lp = llama.post("/completions", body)["choices"][0]["logprobs"]
    prompt_end = len(context + continuation)
    mine = [
        x
        for x, offset in zip(lp["token_logprobs"], lp["text_offset"], strict=True)
        if len(context) <= offset < prompt_end
    ]
    assert got.error is None and got.n_tokens == len(mine) >= 1
    assert got.logprob == pytest.approx(sum(mine), abs=1e-3)
    (top,) = [
        t for t, o in zip(lp["top_logprobs"], lp["text_offset"], strict=True) if o == len(context)
    ]
    assert got.is_greedy == (mine[0] >= max(top.values()))
    (rolling,) = model.loglikelihood_rolling([RollingRequest(context + continuation)])
    scored = [
        x for x, o in zip(lp["token_logprobs"], lp["text_offset"], strict=True) if o < prompt_end
    ]
    assert rolling.n_tokens == len(scored) - 1  # the first token has no log-probability
    assert rolling.logprob == pytest.approx(sum(scored[1:]), abs=1e-3)
    (too_long,) = model.loglikelihood_rolling([RollingRequest("word " * 3000)])
    assert "HTTP 400" in too_long.error and "maximum context length is 2048" in too_long.error


def test_evaluate_stores_results_and_report_without_the_key(
    llama: Server, key_env: str, tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [{"country": c, "capital": k} for c, k in [("France", "Paris"), ("Japan", "Tokyo")]]
    task = _task(tmp_path, CAPITALS_TASK, rows, data="capitals.jsonl")
    caplog.set_level(logging.DEBUG)
    args = {"base_url": llama.url, "api_key_env": key_env, "prices": {"prompt": 1, "completion": 2}}
    out = _evaluate("openai:smollm2", task, db_url, args)
    local = _evaluate("scripted", task, db_url)
    assert out["results"]["capitals"].keys() == local["results"]["capitals"].keys()
    assert out["results"]["capitals"]["exact_match"]["n"] == 2
    store = open_store(db_url)
    samples = store.samples(out["run_id"], "capitals")
    assert all(s.error is None and s.output and s.latency_s > 0 for s in samples)
    assert all(s.prompt_tokens > 10 and s.completion_tokens > 0 for s in samples)
    assert [s.prompt for s in samples] == [s.prompt for s in store.samples(local["run_id"])]
    assert store.get_run(out["run_id"]).model_name.startswith("openai:smollm2@127.0.0.1:")
    reports = write_report(store, out["run_id"], tmp_path / "reports")
    assert "capitals" in reports[0].read_text()
    unknown = OpenAIModel("smollm2", base_url=llama.url, api_key_env="EVALHARNESS_NO_SUCH_KEY")
    (refused,) = unknown.generate([GenerateRequest("Say hi")])
    assert "HTTP 401" in refused.error and refused.error.endswith("(not retried)")
    secret = llama.key.encode()
    for path in tmp_path.rglob("*"):  # the SQLite file, its WAL, the reports
        if path.is_file():
            assert secret not in path.read_bytes(), path
    assert llama.key not in caplog.text and llama.key not in repr(load_model("openai:x", **args))
    assert os.environ[key_env] == llama.key  # the key was there all along


@pytest.mark.xfail(
    strict=True,
    reason="llama-cpp-python 0.3.36 echoes prompt log-probabilities one position late for "
    "models that add no BOS token (SmolLM2): token i is scored with the distribution for i+1",
)
def test_llama_cpp_scores_agree_with_the_local_backend(
    llama: Server, key_env: str, embedded_dir: Path
) -> None:
    from evalharness.models.hf import HFModel

    requests = [
        LoglikelihoodRequest("Question: What is the capital of France?\nAnswer:", " Paris"),
        LoglikelihoodRequest("The cat sat on the", " mat"),
        LoglikelihoodRequest("One, two, three,", " four, five"),
    ]
    model = OpenAIModel("smollm2", base_url=llama.url, api_key_env=key_env, logprobs=True)
    remote = model.loglikelihood(requests)
    local = HFModel(str(embedded_dir)).loglikelihood(requests)
    for mine, reference in zip(remote, local, strict=True):  # Q4_1 activations: ~0.05 nats
        assert mine.n_tokens == reference.n_tokens
        assert mine.logprob == pytest.approx(reference.logprob, abs=0.25)


def test_a_judge_behind_the_real_server_judges_a_stored_run(
    llama: Server, key_env: str, tmp_path: Path, db_url: str
) -> None:
    """The rubric judge through the remote backend: same path as a local judge."""
    from evalharness.judges.records import judgments
    from evalharness.judges.run import judge_run

    rows = [{"country": c, "capital": k} for c, k in [("France", "Paris"), ("Japan", "Tokyo")]]
    task = _task(tmp_path, CAPITALS_TASK, rows, data="capitals.jsonl")
    run_id = _evaluate("scripted", task, db_url)["run_id"]
    judge = OpenAIModel("smollm2", base_url=llama.url, api_key_env=key_env)
    store = open_store(db_url)
    out = judge_run(store, run_id, "factual_consistency", judge, max_tokens=48, max_reasks=0)
    rows_stored = judgments(store, run_id)
    assert {r.idx for r in rows_stored} == {0, 1}
    assert all(r.judge == judge.name and r.raw_output.strip() for r in rows_stored)
    for agg in out["capitals"].values():  # parsed or not, every sample is accounted for
        assert agg["n"] + agg["n_unparsed"] == 2
    assert llama.key not in " ".join(r.prompt + r.raw_output for r in rows_stored)


CAPITAL_CHOICE_TASK = """\
name: capital_choice
dataset:
  path: choices.jsonl
output_type: multiple_choice
format: completion
prompt: "Question: What is the capital of {{ country }}?\\nAnswer:"
choices: "[a, b]"
gold: "0"
metrics: [acc]
"""


def test_cost_from_prices_to_the_leaderboard(
    llama: Server, key_env: str, tmp_path: Path, db_url: str
) -> None:
    """``prices`` -> each sample's tokens and cost -> the task totals -> json, report, board."""
    from evalharness.usage import run_usage
    from evalharness.views import leaderboard

    rows = [{"country": c, "capital": k} for c, k in [("France", "Paris"), ("Japan", "Tokyo")]]
    generate = _task(tmp_path, CAPITALS_TASK, rows, data="capitals.jsonl")
    pairs = [{"country": "France", "a": " Paris", "b": " Rome"}] * 3
    choice = _task(tmp_path, CAPITAL_CHOICE_TASK, pairs, data="choices.jsonl")
    prices = {"prompt": 1.0, "completion": 2.0}
    args = {"base_url": llama.url, "api_key_env": key_env, "logprobs": True, "prices": prices}
    out = evaluate(
        "openai:smollm2", [str(generate), str(choice)], db=db_url, model_args=args, cache=False
    )
    store = open_store(db_url)
    expected = {}
    for task in ("capitals", "capital_choice"):
        samples = store.samples(out["run_id"], task)
        assert all(s.error is None and s.prompt_tokens > 5 for s in samples)
        for s in samples:  # the cost is the server's token counts times the prices
            cost = (s.prompt_tokens * 1.0 + s.completion_tokens * 2.0) / 1e6
            assert s.result["meta"]["cost_usd"] == pytest.approx(cost)
        expected[task] = sum(s.result["meta"]["cost_usd"] for s in samples)
    mc = store.samples(out["run_id"], "capital_choice")
    assert all(s.completion_tokens <= 2 for s in mc)  # one echo request per choice, <= 1 token each
    usage = run_usage(store, out["run_id"])
    assert out["usage"] == usage
    for task, cost in expected.items():
        assert usage["tasks"][task]["cost_usd"] == pytest.approx(cost) and cost > 0
    assert usage["total"]["cost_usd"] == pytest.approx(sum(expected.values()))
    board = leaderboard(store).set_index("task")
    for task, cost in expected.items():
        assert board.loc[task, "cost_usd"] == pytest.approx(cost)
    report = write_report(store, out["run_id"], tmp_path / "reports")[0].read_text()
    assert f"cost ${usage['total']['cost_usd']:.6f}" in report


def test_n_samples_from_a_server_that_ignores_n(llama: Server, key_env: str) -> None:
    """The llama.cpp server answers n=3 with one choice: the backend sends 3 requests."""
    model = OpenAIModel("smollm2", base_url=llama.url, api_key_env=key_env)
    sampling = Sampling(temperature=1.0, max_tokens=8, seed=5, n=3)
    request = GenerateRequest("Once upon a time", sampling, item=0)
    direct = llama.post("/completions", {"prompt": "Once upon a time", "max_tokens": 4, "n": 3})
    assert len(direct["choices"]) == 1  # the premise: n is ignored
    (gen,) = model.generate([request])
    assert gen.error is None and len(gen.texts) == 3 and model.honours_n is False
    assert gen.meta["requests"] == 3 and gen.completion_tokens > 3
    assert len(set(gen.texts)) > 1  # three seeds derived from (5, item 0, k), three samples
    (again,) = model.generate([request])  # detected once: straight to three requests
    assert again.texts == gen.texts and model.usage["failed"] == 1
