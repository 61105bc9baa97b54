"""Generation metrics against sacrebleu / rouge-score on real data, and SQuAD EM/F1 by hand."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from evalharness.errors import DataError
from evalharness.metrics import METRICS, Outcome, get_metric
from evalharness.metrics.text import reference_streams
from tests.support.helpers import data_lines

N_SEG = 50


def _read_jsonl(dataset: str, file: str) -> list[dict]:
    return [json.loads(line) for line in data_lines(dataset, file) if line.strip()]


@pytest.fixture(scope="module")
def wmt() -> dict[str, list[str]]:
    """First N_SEG segments: the human reference and three systems' outputs, aligned."""
    segments = _read_jsonl("wmt-mqm-ted-ende", "translation_en_de.jsonl")[:N_SEG]
    ids = [s["id"] for s in segments]
    outputs: dict[str, dict[str, str]] = {}
    for row in _read_jsonl("wmt-mqm-ted-ende", "system_outputs_mqm.jsonl"):
        outputs.setdefault(row["system"], {})[row["id"]] = row["output"]
    data = {"ref": [s["reference"] for s in segments]}
    for system in ("Facebook-AI", "Online-W", "VolcTrans-GLAT"):
        data[system] = [outputs[system][i] for i in ids]
    return data


def _outcomes(hyps: list[str], refs: list[tuple[str, ...]]) -> list[Outcome]:
    return [Outcome(prediction=h, references=r) for h, r in zip(hyps, refs, strict=True)]


@pytest.mark.parametrize(
    ("name", "reference_fn"),
    [
        ("bleu", sacrebleu.corpus_bleu),
        ("chrf", sacrebleu.corpus_chrf),
        ("ter", sacrebleu.corpus_ter),
    ],
)
def test_single_reference_equals_sacrebleu(wmt: dict, name: str, reference_fn) -> None:
    metric = get_metric(name)
    hyps = wmt["Facebook-AI"]
    stats = metric.stats(_outcomes(hyps, [(r,) for r in wmt["ref"]]))
    assert stats.shape[0] == N_SEG
    expected = reference_fn(hyps, [wmt["ref"]]).score
    assert metric.value(stats) == pytest.approx(expected, rel=1e-12)
    assert 0.0 < expected < 100.0  # a real, non-degenerate score


@pytest.mark.parametrize(
    ("name", "corpus_fn", "sentence_fn"),
    [
        ("bleu", sacrebleu.corpus_bleu, None),  # sentence_bleu uses effective order
        ("chrf", sacrebleu.corpus_chrf, sacrebleu.sentence_chrf),
        ("ter", sacrebleu.corpus_ter, sacrebleu.sentence_ter),
    ],
)
def test_varying_reference_counts(wmt: dict, name: str, corpus_fn, sentence_fn) -> None:
    """Samples with 1, 2 and 3 references (other systems as extra references)."""
    metric = get_metric(name)
    hyps = wmt["Facebook-AI"]
    extra = list(zip(wmt["Online-W"], wmt["VolcTrans-GLAT"], strict=True))
    refs = [(r, *e[: i % 3]) for i, (r, e) in enumerate(zip(wmt["ref"], extra, strict=True))]
    assert refs[0] == (wmt["ref"][0],) and len(refs[2]) == 3
    stats = metric.stats(_outcomes(hyps, refs))
    assert stats.shape[0] == N_SEG  # a short stream would have truncated the corpus

    streams = [
        wmt["ref"],
        [e[0] if i % 3 >= 1 else None for i, e in enumerate(extra)],
        [e[1] if i % 3 == 2 else None for i, e in enumerate(extra)],
    ]
    expected = corpus_fn(hyps, streams).score
    assert metric.value(stats) == pytest.approx(expected, rel=1e-12)
    # more references must help on this data, so the extra references were really used
    single = metric.value(metric.stats(_outcomes(hyps, [(r,) for r in wmt["ref"]])))
    assert (expected > single) if metric.higher_is_better else (expected < single)

    # grouping samples by reference count and summing group statistics agrees too
    scorer = {"bleu": sacrebleu.BLEU, "chrf": sacrebleu.CHRF, "ter": sacrebleu.TER}[name]()
    sums = np.zeros(stats.shape[1])
    for k in (1, 2, 3):
        idx = [i for i, r in enumerate(refs) if len(r) == k]
        group_streams = [[refs[i][j] for i in idx] for j in range(k)]
        group = scorer._extract_corpus_statistics([hyps[i] for i in idx], group_streams)
        sums += np.asarray(group, dtype=float).sum(axis=0)
    assert metric.aggregate(sums) == pytest.approx(expected, rel=1e-12)

    if sentence_fn is not None:  # one row is that segment's multi-reference score
        for i in (0, 1, 2, 5):
            row_value = metric.value(stats[i : i + 1])
            assert row_value == pytest.approx(sentence_fn(hyps[i], list(refs[i])).score)


def test_reference_streams_pad_with_none() -> None:
    streams = reference_streams([("a",), ("b", "c", "d"), ("e", "f")])
    assert streams == [["a", "b", "e"], [None, "c", "f"], [None, "d", None]]


def test_sacrebleu_truncates_short_streams() -> None:
    """Why we pad: unpadded streams make sacrebleu silently drop trailing segments."""
    hyps = ["the cat sat on the mat", "a dog ran", "completely wrong words here"]
    refs = [("the cat sat on a mat", "a cat sat on the mat"), ("a dog ran",), ("hello world",)]
    truncated = sacrebleu.corpus_bleu(hyps, [[r[0] for r in refs], [refs[0][1]]]).score
    ours = get_metric("bleu").value(get_metric("bleu").stats(_outcomes(hyps, refs)))
    first_only = sacrebleu.corpus_bleu(hyps[:1], [[refs[0][0]], [refs[0][1]]]).score
    assert truncated == pytest.approx(first_only)
    assert ours < truncated  # the bad third segment counts for us


def test_padding_is_none_not_empty_string() -> None:
    """An empty string is a real reference to sacrebleu: it would change BLEU's closest
    reference length (and TER's mean reference length) for the sample it pads."""
    hyps = ["hello", "the cat sat on the mat"]
    refs = [("hello world",), ("the cat sat on a mat", "a cat sat on the mat", "the cat sat")]
    bleu = get_metric("bleu")
    ours = bleu.value(bleu.stats(_outcomes(hyps, refs)))
    streams = [[r[0] for r in refs], [None, refs[1][1]], [None, refs[1][2]]]
    assert ours == pytest.approx(sacrebleu.corpus_bleu(hyps, streams).score)
    empty_padded = [[s if s is not None else "" for s in stream] for stream in streams]
    assert ours < sacrebleu.corpus_bleu(hyps, empty_padded).score  # "" skips the brevity penalty


def test_empty_and_missing_references() -> None:
    assert get_metric("bleu").stats([]).shape == (0, 10)
    assert get_metric("ter").stats([]).shape == (0, 2)
    for name in ("bleu", "rouge1", "exact_match", "f1"):
        with pytest.raises(DataError, match="sample 1"):
            get_metric(name).stats(_outcomes(["x", "y"], [("x",), ()]))


@pytest.fixture(scope="module")
def summeval() -> list[Outcome]:
    docs = {
        d["doc_id"]: d["references"] for d in _read_jsonl("summeval", "summeval_documents.jsonl")
    }
    rows = _read_jsonl("summeval", "summeval_judgments.jsonl")[::83][:20]
    assert len({r["doc_id"] for r in rows}) > 10 and all(len(docs[r["doc_id"]]) == 11 for r in rows)
    return [
        Outcome(prediction=r["system_output"], references=tuple(docs[r["doc_id"]])) for r in rows
    ]


def test_rouge_equals_rouge_score_on_summeval(summeval: list[Outcome]) -> None:
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=True)
    per_sample = [scorer.score_multi(list(o.references), o.prediction) for o in summeval]
    for t in types:
        expected = float(np.mean([s[t].fmeasure for s in per_sample]))
        stats = get_metric(t).stats(summeval)
        assert stats.shape == (20, 2) and np.all(stats[:, 1] == 1)
        assert get_metric(t).value(stats) == pytest.approx(expected, rel=1e-12)
    # max over references is not the first reference's score
    first_only = [scorer.score(o.references[0], o.prediction)["rouge1"].fmeasure for o in summeval]
    assert get_metric("rouge1").value(get_metric("rouge1").stats(summeval)) > np.mean(first_only)


def test_rouge_by_hand() -> None:
    def value(name: str, pred: str, refs: tuple[str, ...]) -> float:
        metric = get_metric(name)
        return metric.value(metric.stats([Outcome(prediction=pred, references=refs)]))

    # P = 3/3, R = 3/6 -> F = 2/3; bigrams: P = 2/2, R = 2/5 -> F = 4/7
    assert value("rouge1", "the cat sat", ("the cat sat on the mat",)) == pytest.approx(2 / 3)
    assert value("rouge2", "the cat sat", ("the cat sat on the mat",)) == pytest.approx(4 / 7)
    assert value("rouge1", "the cat sat", ("dogs bark", "the cat sat on the mat")) == pytest.approx(
        2 / 3
    )
    assert value("rouge1", "cats running", ("cat runs",)) == pytest.approx(1.0)  # stemming
    # rougeLsum: newlines are sentence boundaries (summary-level union LCS); rougeL ignores them
    pred, ref = "alpha beta\ngamma delta", "gamma delta\nalpha beta"
    assert value("rougeL", pred, (ref,)) == pytest.approx(0.5)
    assert value("rougeLsum", pred, (ref,)) == pytest.approx(1.0)
    assert value("rougeLsum", pred.replace("\n", " "), (ref.replace("\n", " "),)) == 0.5


def test_squad_exact_match_and_f1_by_hand() -> None:
    cases = _outcomes(
        ["The Eiffel Tower!", "an apple pie", "Paris, France", "New York City"],
        [("eiffel tower",), ("apple tart",), ("France", "paris france"), ("york", "new york")],
    )
    em, f1 = get_metric("exact_match"), get_metric("f1")
    assert em.stats(cases)[:, 0].tolist() == [1.0, 0.0, 1.0, 0.0]
    # F1: 1; 1/2 ("apple" of 2 and 2 tokens); max(2/3, 1); max(1/2, 4/5)
    assert f1.stats(cases)[:, 0] == pytest.approx([1.0, 0.5, 1.0, 0.8])
    assert em.value(em.stats(cases)) == pytest.approx(0.5)
    assert f1.value(f1.stats(cases)) == pytest.approx(0.825)


def test_squad_quirks_and_strict_match() -> None:
    em, f1, strict = (get_metric(n) for n in ("exact_match", "f1", "exact_match_strict"))
    only_articles = _outcomes(["A"], [("the",)])
    assert em.value(em.stats(only_articles)) == 1.0  # both normalise to ""
    assert f1.value(f1.stats(only_articles)) == 0.0  # official v1.1 F1 of no tokens
    numeric = _outcomes([" 1.5\n", "15", "42"], [("1.5",), ("1.5",), ("41", "42 ")])
    assert strict.stats(numeric)[:, 0].tolist() == [1.0, 0.0, 1.0]
    assert em.stats(numeric)[:, 0].tolist() == [1.0, 1.0, 1.0]  # "1.5" -> "15": why strict exists


def test_registry() -> None:
    text = {"bleu", "chrf", "ter", "rouge1", "rouge2", "rougeL", "rougeLsum"}
    answers = {"exact_match", "exact_match_strict", "f1", "lm_exact_match"}
    retrieval = {"recall_at_k", "precision_at_k", "mrr", "ndcg_at_k"}
    likelihood = {"acc", "acc_norm", "perplexity", "word_perplexity", "byte_perplexity"}
    code = {f"pass@{k}" for k in (1, 2, 5, 10, 100)}
    assert set(METRICS) == text | answers | retrieval | likelihood | code | {"bits_per_byte"}
    assert all(get_metric(name).higher_is_better for name in code)
    assert all(m.output_type == "generate" for n, m in METRICS.items() if n in {"bleu", "rougeL"})
    assert not get_metric("ter").higher_is_better and get_metric("chrf").higher_is_better
    with pytest.raises(KeyError, match="known metrics: acc, acc_norm"):
        get_metric("blue")
    filtered = get_metric("lm_exact_match,strict-match")  # a named answer filter's metric
    assert filtered.name == "lm_exact_match,strict-match"
    assert filtered.aggregate is METRICS["lm_exact_match"].aggregate
    with pytest.raises(KeyError, match="unknown metric 'blue,strict-match'"):
        get_metric("blue,strict-match")


def test_import_is_light() -> None:
    code = (
        "import sys, evalharness.metrics\n"
        "heavy = [m for m in ('sacrebleu', 'rouge_score', 'torch', 'nltk') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
