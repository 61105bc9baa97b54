"""lm-eval's own arc_easy, piqa and gsm8k_cot files through ``lm-eval:`` against our bundled
arc_easy, piqa and gsm8k tasks on the embedded model: the same prompts, choices and scores."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalharness.api import evaluate
from evalharness.items import build_items
from evalharness.runner.plan import load_specs
from evalharness.store import open_store
from tests.support.helpers import REPO

N = 10


def _samples(task: str, db: str, cache: bool = False) -> tuple[dict, list]:
    out = evaluate("embedded", [task], limit=N, db=db, cache=cache, progress=False)
    ((name, results),) = out["results"].items()
    return results, sorted(open_store(db).samples(out["run_id"], name), key=lambda s: s.idx)


@pytest.mark.parametrize("task", ["arc_easy", "piqa"])
def test_multiple_choice_samples_and_scores_equal_our_task(tmp_path: Path, task: str) -> None:
    ours, our_samples = _samples(task, f"sqlite:///{tmp_path / 'ours.db'}")
    theirs, their_samples = _samples(f"lm-eval:{task}", f"sqlite:///{tmp_path / 'theirs.db'}")
    assert len(our_samples) == len(their_samples) == N
    for a, b in zip(our_samples, their_samples, strict=True):
        assert (b.idx, b.prompt, b.result["choices"], b.result["gold"], b.reference) == (
            a.idx, a.prompt, a.result["choices"], a.result["gold"], a.reference
        )  # fmt: skip
        assert b.result["logprobs"] == pytest.approx(a.result["logprobs"], abs=1e-4)
        assert b.scores == a.scores
    assert set(theirs) == set(ours) == {"acc", "acc_norm"}
    for metric in ours:
        assert theirs[metric]["value"] == pytest.approx(ours[metric]["value"], abs=1e-9)
        assert theirs[metric]["n"] == ours[metric]["n"] == N


def _lm_eval_regex(pattern: str, group: int, text: str) -> str:
    """lm-eval 0.4.13 ``RegexFilter`` (filters/extraction.py), restated for the check."""
    found = re.findall(pattern, text)
    if not found:
        return "[invalid]"
    match = found[group]
    if isinstance(match, tuple):
        match = [m for m in match if m][0] if any(match) else "[invalid]"
    return match.strip()


def _lm_eval_exact_match(prediction: str, reference: str) -> float:
    """``exact_match_hf_evaluate`` with gsm8k-cot.yaml's options."""
    for pattern in (",", r"\$", "(?s).*#### ", r"\.$"):
        prediction, reference = re.sub(pattern, "", prediction), re.sub(pattern, "", reference)
    return float(prediction.lower() == reference.lower())


def test_gsm8k_cot_prompts_equal_our_gsm8k_and_scores_follow_lm_eval(tmp_path: Path) -> None:
    """Our gsm8k has gsm8k_cot's 8-shot prompt but stops at "\\n\\n" too and scores the last
    number (``exact_match_strict``); lm-eval stops at "Q:" only and scores two regex filters.
    So: prompts equal our gsm8k's; generations equal those of our gsm8k with gsm8k_cot's stop
    sequences (an equivalent task); scores equal lm-eval's filters restated here."""
    ((ours, ob, op),) = load_specs(["gsm8k"])
    ((theirs, tb, tp),) = load_specs(["lm-eval:gsm8k_cot"])
    our_items, their_items = build_items(ours, ob, op, N), build_items(theirs, tb, tp, N)
    assert [i.prompt for i in their_items] == [i.prompt for i in our_items]
    assert [i.references for i in their_items][:3] == [i.references for i in our_items][:3]
    assert theirs.generation.stop == ("Q:", "</s>", "<|im_end|>") and theirs.generation.greedy
    assert theirs.generation.max_tokens == ours.generation.max_tokens == 256

    results, samples = _samples("lm-eval:gsm8k_cot", f"sqlite:///{tmp_path / 'lm.db'}", True)
    assert set(results) == {"lm_exact_match,strict-match", "lm_exact_match,flexible-extract"}
    strict, flexible = [], []
    for sample in samples:
        ref, text = sample.reference[0], sample.output
        s = _lm_eval_exact_match(_lm_eval_regex(r"The answer is (\-?[0-9\.\,]+).", 0, text), ref)
        f = _lm_eval_exact_match(_lm_eval_regex(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", -1, text), ref)
        assert sample.scores == {
            "lm_exact_match,strict-match": s,
            "lm_exact_match,flexible-extract": f,
        }
        strict.append(s), flexible.append(f)
    assert results["lm_exact_match,strict-match"]["value"] == pytest.approx(sum(strict) / N)
    assert results["lm_exact_match,flexible-extract"]["value"] == pytest.approx(sum(flexible) / N)

    equivalent = (REPO / "tasks/gsm8k.yaml").read_text(encoding="utf-8")
    equivalent = equivalent.replace('stop: ["Q:", "\\n\\n"]', 'stop: ["Q:", "</s>", "<|im_end|>"]')
    equivalent = equivalent.replace("path: data/gsm8k/", f"path: {REPO}/tasks/data/gsm8k/")
    assert "<|im_end|>" in equivalent and str(REPO) in equivalent
    (tmp_path / "gsm8k_equivalent.yaml").write_text(equivalent, encoding="utf-8")
    _, twins = _samples(
        str(tmp_path / "gsm8k_equivalent.yaml"), f"sqlite:///{tmp_path / 'o.db'}", True
    )
    assert [t.output for t in twins] == [s.output for s in samples]
    assert [t.prompt for t in twins] == [s.prompt for s in samples]
