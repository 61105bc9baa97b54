"""Ratings in the store: importers (counts from SOURCE.md), updates, files, tables and the CLI."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sacrebleu
from scipy import stats as sps

from evalharness.errors import DataError
from evalharness.meta.tables import llmbar_tables, pandalm_tables, unieval_tables, wmt_tables
from evalharness.ratings.files import export_csv, import_file
from evalharness.ratings.importers import IMPORTERS, import_dataset
from evalharness.ratings.records import (
    HumanRating,
    RatedItem,
    add_items,
    add_rating,
    rating_history,
    ratings,
)
from evalharness.store import Store, open_store
from tests.support.helpers import DATA, data_lines, data_text, run_cli


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('meta') / 'store.db'}")
    for name in IMPORTERS:
        import_dataset(s, name)  # the bundled sets
    return s


def _count(frame: pd.DataFrame, **where: str) -> int:
    for column, value in where.items():
        frame = frame[frame[column] == value]
    return len(frame)


def test_row_counts_match_the_source_notes(store: Store) -> None:
    from evalharness.ratings.records import datasets

    assert datasets(store) == {
        "summeval": 1600,
        "unieval-meta": 360 + 235 + 239 + 1181 + 875,
        "realsumm": 2500,
        "wmt-mqm-ted-ende": 7406,
        "llmbar-pairwise": 885,
        "pandalm-testset": 999,
    }
    frame = ratings(store)
    assert _count(frame, annotator="summeval-expert-mean") == 1600 * 4
    sizes = {
        "topical_chat": 360 * 6,
        "qags_cnndm": 235,
        "qags_xsum": 239,
        "sfres": 1181 * 3,
        "sfhot": 875 * 3,
    }
    for subset, n in sizes.items():
        assert _count(frame, annotator="unieval-meta-human-mean", rubric=subset) == n
        assert _count(frame, annotator="unieval", rubric=subset) == n
    assert _count(frame, annotator="realsumm-litepyramid") == 2500
    wmt = frame[frame["annotator"] == "wmt-mqm-expert"]
    assert len(wmt) == 7406 and wmt["group_id"].nunique() == 529
    assert wmt["system_id"].nunique() == 14
    llm = frame[frame["dataset"] == "llmbar-pairwise"]
    judges = llm[llm["annotator_kind"] == "judge"]
    assert len(judges) == 7080 * 2 and (judges["label"] == "unparseable").sum() == 166
    assert _count(llm, annotator="llmbar-gold") == 885
    panda = frame[frame["dataset"] == "pandalm-testset"]
    assert (panda["annotator_kind"] == "human").sum() == 3 * 999
    assert _count(panda, annotator="gpt-3.5-turbo", label="unparseable") == 25
    assert _count(panda, annotator="pandalm-7b") == 999


def test_reimport_writes_nothing(store: Store) -> None:
    result = import_dataset(store, "pandalm-testset", DATA)
    assert (result.items, result.new_items, result.ratings, result.new_ratings) == (999, 0, 4995, 0)


def test_imported_values_are_the_source_values(store: Store) -> None:
    first = json.loads(data_lines("summeval", "summeval_judgments.jsonl")[0])
    frame = ratings(store, dataset="summeval")
    item = f"summeval:{first['doc_id']}:{first['system_id']}"
    got = frame[frame["item_id"] == item].set_index("criterion")["score"].to_dict()
    assert got == pytest.approx(first["scores"])


def test_rating_update_keeps_the_old_row(db_url: str) -> None:
    s = open_store(db_url)
    add_items(s, [RatedItem(id="demo:1", dataset="demo", response="Paris.")])
    first = add_rating(s, "alice", "demo:1", "helpfulness", "overall", score=4, comment="ok")
    again = add_rating(s, "alice", "demo:1", "helpfulness", "overall", score=4, comment="ok")
    assert again.id == first.id  # identical: nothing written
    second = add_rating(s, "alice", "demo:1", "helpfulness", "overall", score=5)
    assert second.id != first.id and second.supersedes_id == first.id
    latest = ratings(s, dataset="demo")
    assert list(latest["score"]) == [5.0]
    everything = ratings(s, dataset="demo", latest=False)
    assert list(everything["score"]) == [4.0, 5.0]
    assert [r.id for r in rating_history(s, second.id)] == [second.id, first.id]
    with s.session() as session:
        assert session.get(HumanRating, first.id).score == 4.0  # never overwritten
    with pytest.raises(DataError, match="has neither a score nor a label"):
        add_rating(s, "alice", "demo:1", "helpfulness", "overall")  # no score, no label
    with pytest.raises(DataError, match="no rated item 'demo:404'"):
        add_rating(s, "alice", "demo:404", "helpfulness", "overall", score=1)


def test_file_import_export_round_trip(tmp_path: Path, db_url: str) -> None:
    src = tmp_path / "mine.csv"
    pd.DataFrame(
        [
            {
                "item_id": "q1",
                "annotator": "bob",
                "criterion": "overall",
                "score": "4",
                "response": "yes",
                "reference": '["a", "b"]',
                "group_id": "doc1",
            },
            {
                "item_id": "q1",
                "annotator": "gpt",
                "annotator_kind": "judge",
                "criterion": "overall",
                "score": "5",
                "rubric": "r1",
            },
            {
                "item_id": "q2",
                "annotator": "bob",
                "criterion": "pref",
                "label": "tie",
                "response": "x",
                "response_b": "y",
                "reference": "plain text",
            },
        ]
    ).to_csv(src, index=False)
    s = open_store(db_url)
    result = import_file(s, src)
    assert (result.dataset, result.items, result.ratings, result.new_ratings) == ("mine", 2, 3, 3)
    out = tmp_path / "export.csv"
    assert export_csv(s, out) == 3
    back = open_store(f"sqlite:///{tmp_path / 'copy.db'}")
    assert import_file(back, out).new_ratings == 3
    cols = ["item_id", "annotator", "annotator_kind", "rubric", "criterion", "score", "label"]
    a, b = ratings(s)[cols], ratings(back)[cols]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    from evalharness.ratings.records import items

    refs = items(back).set_index("id")["reference"].to_dict()
    assert refs == {"q1": ["a", "b"], "q2": "plain text"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"item_id": "q", "annotator": "a", "criterion": "c", "score": "x"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl: row 1: score 'x'"):
        import_file(s, bad)
    (tmp_path / "nocol.csv").write_text("item_id,score\nq,1\n")
    with pytest.raises(DataError, match="missing column"):
        import_file(s, tmp_path / "nocol.csv")


# ---------------------------------------------------------------------------------------------
# tables from the store


def test_unieval_table_from_store_matches_scipy(store: Store) -> None:
    (table, *_calibration) = unieval_tables(store, n_boot=50, rubric="qags_xsum")
    rows = json.loads(data_text("unieval-meta", "qags_xsum.json"))

    def value(x: object) -> float:  # a dict, or a Python-literal string of one
        return (ast.literal_eval(x) if isinstance(x, str) else x)["consistency"]

    judge = [value(r["predict_scores"]) for r in rows]
    human = [value(r["scores"]) for r in rows]
    got = table.get("unieval [qags_xsum]", "consistency", "kendall")
    assert got["value"] == pytest.approx(sps.kendalltau(judge, human).statistic)
    assert round(got["value"], 3) == 0.399 and got["n"] == 239  # UniEval paper: 0.399


def test_judge_hook_takes_scores_from_outside_the_store(store: Store) -> None:
    from evalharness.meta.judge_tables import judge_tables

    stored = ratings(store, dataset="unieval-meta", rubric="qags_cnndm", kind="judge")
    outside = stored[["item_id", "criterion", "score"]].assign(annotator="my-judge")
    (mine, _cal) = judge_tables(
        store, "unieval-meta", rubric="qags_cnndm", judge_scores=outside, n_boot=50
    )
    (ref, _cal) = judge_tables(store, "unieval-meta", rubric="qags_cnndm", n_boot=50)
    for stat in ("pearson", "spearman", "kendall"):
        got = dict(mine.get("my-judge [judge]", "consistency", stat), row="")
        assert got == dict(ref.get("unieval [qags_cnndm]", "consistency", stat), row="")
    assert round(mine.get("my-judge [judge]", "consistency", "pearson")["value"], 3) == 0.682


def test_llmbar_and_pandalm_tables(store: Store) -> None:
    (llm,) = llmbar_tables(store, n_boot=50)
    assert (
        round(llm.get("gpt-4 Vanilla_NoRules", "llmbar_natural", "accuracy")["value"], 3) == 0.935
    )
    iaa, judges = pandalm_tables(store, n_boot=50)
    rows = json.loads(data_text("pandalm-testset", "testset-v1.json"))
    from sklearn.metrics import cohen_kappa_score

    ref = cohen_kappa_score([r["annotator1"] for r in rows], [r["annotator2"] for r in rows])
    got = iaa.get("pandalm-annotator1|pandalm-annotator2", "preference", "cohen_kappa")
    assert got["value"] == pytest.approx(ref)
    acc = judges.get("pandalm-7b [pairwise]", "preference", "accuracy")
    assert 0.5 < acc["value"] < 0.8 and acc["n"] == 999


def test_wmt_system_level_uses_corpus_bleu(store: Store) -> None:
    (table,) = wmt_tables(store, n_boot=50, limit=40)
    got = table.get("bleu", "mqm", "pearson")
    assert got["n"] == 13
    rows = [json.loads(x) for x in data_lines("wmt-mqm-ted-ende", "system_outputs_mqm.jsonl")]
    refs = {
        json.loads(x)["id"]: json.loads(x)["reference"]
        for x in data_lines("wmt-mqm-ted-ende", "translation_en_de.jsonl")
    }
    segments = sorted({r["id"] for r in rows})[:40]
    bleu, mqm = [], []
    for system in sorted({r["system"] for r in rows} - {"ref"}):
        mine = sorted(
            (r for r in rows if r["system"] == system and r["id"] in segments),
            key=lambda r: r["id"],
        )
        bleu.append(
            sacrebleu.corpus_bleu(
                [r["output"] for r in mine], [[refs[r["id"]] for r in mine]]
            ).score
        )
        mqm.append(-np.mean([r["mqm_penalty"] for r in mine]))
    assert got["value"] == pytest.approx(sps.pearsonr(bleu, mqm).statistic)


# ---------------------------------------------------------------------------------------------
# the CLI, in a real subprocess

# SummEval ROUGE-2 summary-level Spearman / Kendall with the expert dimensions, as published
# (UniEval and G-Eval papers' baseline rows; mean over the 11 references)
PUBLISHED_ROUGE2 = {
    "coherence": (0.184, 0.139),
    "consistency": (0.187, 0.155),
    "fluency": (0.159, 0.128),
    "relevance": (0.290, 0.219),
}


def test_cli_calibrate_summeval_prints_the_table(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    proc = run_cli(
        "calibrate",
        "--dataset",
        "summeval",
        "--n-boot",
        "200",
        "--db",
        db,
        "--json",
        str(tmp_path / "out.json"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "imported summeval: 1600 items, 6400 ratings" in proc.stdout
    assert "SummEval: summary-level correlation of ROUGE" in proc.stdout
    assert (tmp_path / "reports" / "meta" / "summeval.json").is_file()
    result = json.loads((tmp_path / "out.json").read_text())
    entries = {
        (e["row"], e["column"], e["statistic"]): e
        for t in result["tables"]
        if t["level"] == "summary"
        for e in t["entries"]
    }
    assert len(entries) == 3 * 4 * 2
    for criterion, (rho, tau) in PUBLISHED_ROUGE2.items():
        for stat, published in (("spearman", rho), ("kendall", tau)):
            e = entries[("rouge2", criterion, stat)]
            assert e["value"] == pytest.approx(published, abs=0.0015), (criterion, stat)
            assert e["ci_low"] < e["value"] < e["ci_high"]
            line = f"rouge2     {criterion:<11}  {stat:<22} {e['value']:8.3f}"
            assert line in proc.stdout
    again = run_cli("ratings", "export", str(tmp_path / "all.csv"), "--db", db, cwd=tmp_path)
    assert again.returncode == 0 and "wrote 11200 ratings" in again.stdout  # 6400 + 3 x 1600


def test_cli_errors_exit_2(tmp_path: Path) -> None:
    proc = run_cli(
        "calibrate", "--dataset", "nope", "--db", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path
    )
    assert proc.returncode == 2 and "unknown dataset 'nope'" in proc.stderr
    proc = run_cli(
        "ratings",
        "import",
        str(tmp_path / "missing.csv"),
        "--db",
        f"sqlite:///{tmp_path / 'x.db'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "no ratings file" in proc.stderr
