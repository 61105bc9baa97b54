"""The embedded model (SmolLM2-135M-Instruct, real weights) through the whole runner."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from evalharness import evaluate
from evalharness.report import write_report
from evalharness.store import open_store

REPO = Path(__file__).resolve().parent.parent


def test_wikitext_perplexity_matches_a_hand_computation(embedded_dir: Path, db_url: str) -> None:
    """Token/word/byte perplexity and bits per byte of one article from one plain forward pass."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = evaluate("embedded", ["wikitext2"], limit=1, db=db_url)["results"]["wikitext2"]
    row = json.loads((REPO / "tasks/data/wikitext2/test.jsonl").read_text().splitlines()[0])
    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    model = AutoModelForCausalLM.from_pretrained(embedded_dir, dtype=torch.float32).eval()
    tokens = tokenizer(row["text"], add_special_tokens=False).input_ids
    assert len(tokens) < 8192  # one window: the plain forward pass sees what the harness saw
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    prefix = bos if bos is not None else eos
    ids = torch.tensor([[prefix, *tokens]])
    with torch.inference_mode():
        logits = model(ids).logits[0, :-1].double()
    logprob = logits.log_softmax(-1).gather(1, ids[0, 1:, None]).sum().item()
    words = len(re.split(r"\s+", row["page"]))
    n_bytes = len(row["page"].encode("utf-8"))
    expected = {
        "perplexity": math.exp(-logprob / len(tokens)),
        "word_perplexity": math.exp(-logprob / words),
        "byte_perplexity": math.exp(-logprob / n_bytes),
        "bits_per_byte": -logprob / (n_bytes * math.log(2)),
    }
    for name, value in expected.items():
        assert out[name]["value"] == pytest.approx(value, rel=1e-4), name
        assert out[name]["n"] == 1
    assert 5 < expected["perplexity"] < 100  # a real model on real text, not noise


def test_multiple_choice_accuracy_same_with_and_without_shared_contexts(db_url: str) -> None:
    shared = evaluate("embedded", ["piqa"], limit=24, db=db_url, model_args={"share_context": True})
    plain = evaluate("embedded", ["piqa"], limit=24, db=db_url, model_args={"share_context": False})
    assert shared["results"]["piqa"] == plain["results"]["piqa"]
    store = open_store(db_url)
    for a, b in zip(store.samples(shared["run_id"]), store.samples(plain["run_id"]), strict=True):
        assert a.result["logprobs"] == pytest.approx(b.result["logprobs"], abs=1e-4)
    assert 0.4 <= shared["results"]["piqa"]["acc"]["value"] <= 1.0


def test_every_reference_metric_task_runs_end_to_end(db_url: str, tmp_path: Path) -> None:
    """The seven tasks of `make demo` (RAG and judge-graded tasks have their own tests)."""
    expected = {
        "wikitext2", "piqa", "gsm8k", "flores_en_de", "flores_en_fr", "summeval_cnndm", "xquad_en",
    }  # fmt: skip
    out = evaluate("embedded", sorted(expected), limit=2, db=db_url)
    assert set(out["results"]) == expected
    for task, metrics in out["results"].items():
        for name, agg in metrics.items():
            assert agg["n"] == 2 and agg["n_failed"] == 0, (task, name)
            assert agg["ci_low"] <= agg["value"] <= agg["ci_high"] or math.isnan(agg["value"])
    store = open_store(db_url)
    run = store.get_run(out["run_id"])
    assert run.status == "finished" and run.model_name.startswith("embedded:SmolLM2-135M-Instruct")
    assert run.versions["torch"].startswith(torch.__version__.split("+")[0])
    flores = store.samples(out["run_id"], "flores_en_de")
    assert all(s.output and s.latency_s and s.completion_tokens for s in flores)
    assert "[user]" in flores[0].prompt and "German" in flores[0].prompt
    md, html = write_report(store, out["run_id"], tmp_path)
    assert "summeval_cnndm" in md.read_text() and "rougeLsum" in html.read_text()
