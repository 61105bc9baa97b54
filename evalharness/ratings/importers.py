"""Importers for the bundled human-judgment sets: items into ``rated_items``, scores into
``human_ratings``.

Humans become annotators of kind ``human`` (a panel's mean score is one annotator, e.g.
``summeval-expert-mean``); the published judges' scores become annotators of kind ``judge``
(``unieval``, ``gpt-4``, ``pandalm-7b``...), so judge-vs-human tables come from the store alone.
Each importer reads ``<data_dir>/<name>/`` where ``data_dir`` defaults to the sets bundled with
evalharness (``data/``, gzip-compressed; a folder of the uncompressed files works as well).
Imports are idempotent: known items are kept, identical ratings are not written again (a changed
one supersedes the stored one).

| dataset | items | annotators (kind) | rubric / criteria |
|---|---|---|---|
| summeval | 1,600 = 100 docs x 16 systems (11 refs) | summeval-expert-mean (human) | summeval / coherence, consistency, fluency, relevance |
| unieval-meta | 360 + 235 + 239 + 1,181 + 875 | unieval-meta-human-mean (human), unieval (judge) | the subset name / its dimensions |
| realsumm | 2,500 = 100 docs x 25 systems | realsumm-litepyramid (human) | realsumm / litepyramid_recall |
| wmt-mqm-ted-ende | 7,406 = 529 segments x 14 systems | wmt-mqm-expert (human) | mqm / mqm_penalty (lower is better) |
| llmbar-pairwise | 885 pairs | llmbar-gold (human); gpt-4, chatgpt, llama2, palm2 (judge) | pairwise / preference; judges: pairwise:<strategy> / preference, preference_swapped |
| pandalm-testset | 999 pairs | pandalm-annotator1..3 (human); gpt-3.5-turbo, pandalm-7b (judge) | pairwise / preference |

Pairwise labels are ``"1"``, ``"2"``, ``"tie"`` (score 1, 2, 0) or ``"unparseable"`` (no score).
"""  # noqa: E501

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalharness.errors import DataError
from evalharness.jsonl import read_jsonl
from evalharness.meta.pairwise import TIE, UNPARSEABLE, normalize_verdict
from evalharness.ratings.records import (
    NewRating,
    RatedItem,
    add_items,
    add_ratings,
    ensure_annotator,
)
from evalharness.resources import bundled, read_data_text
from evalharness.store import Store

PAIRWISE_SCORES = {"1": 1.0, "2": 2.0, TIE: 0.0}


def default_data_dir() -> Path:
    return bundled("data")


@dataclass(frozen=True)
class ImportResult:
    dataset: str
    items: int  # items in the source
    new_items: int
    ratings: int  # ratings in the source
    new_ratings: int  # rows written (0 when everything was already stored)


@dataclass
class _Batch:
    dataset: str
    annotators: dict[str, tuple[str, str]]  # id -> (name, kind)
    items: list[RatedItem]
    ratings: list[NewRating]

    def write(self, store: Store) -> ImportResult:
        for annotator_id, (name, kind) in self.annotators.items():
            ensure_annotator(store, annotator_id, name, kind)
        new_items = add_items(store, self.items)
        new_ratings = add_ratings(store, self.ratings)
        return ImportResult(
            self.dataset, len(self.items), new_items, len(self.ratings), new_ratings
        )


def _text(path: Path) -> str:
    try:
        return read_data_text(path)
    except FileNotFoundError:
        raise DataError(f"missing data file {path}") from None


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    return (row for _, row in read_jsonl(path, _text(path)))


def _json(path: Path) -> Any:
    return json.loads(_text(path))


def _literal(value: Any) -> dict[str, float]:
    """A dict, or a Python-literal string of one (UniEval stores some scores that way)."""
    return ast.literal_eval(value) if isinstance(value, str) else dict(value)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _pairwise(
    annotator: str, item: str, rubric: str, criterion: str, raw: Any, comment: Any = None
) -> NewRating:
    label = normalize_verdict(raw) or UNPARSEABLE
    return NewRating(
        annotator, item, rubric, criterion, PAIRWISE_SCORES.get(label), label, comment or None
    )


# ---------------------------------------------------------------------------------------------


def summeval(folder: Path) -> _Batch:
    docs = {d["doc_id"]: d for d in _jsonl(folder / "summeval_documents.jsonl")}
    batch = _Batch(
        "summeval",
        {"summeval-expert-mean": ("SummEval: mean of 3 expert ratings", "human")},
        [],
        [],
    )
    for row in _jsonl(folder / "summeval_judgments.jsonl"):
        doc = docs[row["doc_id"]]
        item_id = f"summeval:{row['doc_id']}:{row['system_id']}"
        batch.items.append(
            RatedItem(
                id=item_id,
                dataset="summeval",
                group_id=row["doc_id"],
                system_id=row["system_id"],
                source=doc["source"],
                response=row["system_output"],
                reference=list(doc["references"]),
                extra={},
            )
        )
        for criterion, score in row["scores"].items():
            batch.ratings.append(
                NewRating("summeval-expert-mean", item_id, "summeval", criterion, score)
            )
    return batch


UNIEVAL_SUBSETS = ("topical_chat", "qags_cnndm", "qags_xsum", "sfres", "sfhot")


def unieval_meta(folder: Path) -> _Batch:
    batch = _Batch(
        "unieval-meta",
        {
            "unieval-meta-human-mean": ("UniEval meta-evaluation sets: mean human score", "human"),
            "unieval": ("UniEval (T5-based evaluator), published predictions", "judge"),
        },
        [],
        [],
    )
    for subset in UNIEVAL_SUBSETS:
        for i, row in enumerate(_json(folder / f"{subset}.json")):
            item_id = f"unieval-meta:{subset}:{i}"
            group = row.get("doc_id")
            if group is None:  # Topical-Chat: the dialogue history groups its 6 responses
                group = _digest(row["source"] + row.get("context", ""))
            batch.items.append(
                RatedItem(
                    id=item_id,
                    dataset="unieval-meta",
                    group_id=f"{subset}:{group}",
                    system_id=row.get("system_id"),
                    source=row["source"],
                    context=row.get("context"),
                    response=row["system_output"],
                    reference=row.get("reference"),
                    extra={"subset": subset},
                )
            )
            for annotator, key in (
                ("unieval-meta-human-mean", "scores"),
                ("unieval", "predict_scores"),
            ):
                for criterion, score in _literal(row[key]).items():
                    batch.ratings.append(NewRating(annotator, item_id, subset, criterion, score))
    return batch


def realsumm(folder: Path) -> _Batch:
    articles = {a["doc_id"]: a["source"] for a in _jsonl(folder / "realsumm_articles.jsonl")}
    batch = _Batch(
        "realsumm", {"realsumm-litepyramid": ("REALSumm LitePyramid recall", "human")}, [], []
    )
    for row in _jsonl(folder / "realsumm_cnndm.jsonl"):
        system = f"{row['kind']}/{row['system']}"  # bart_out is both abstractive and extractive
        item_id = f"realsumm:{row['doc_id']}:{system}"
        batch.items.append(
            RatedItem(
                id=item_id,
                dataset="realsumm",
                group_id=row["doc_id"],
                system_id=system,
                source=articles.get(row["doc_id"]),
                response=row["summary"],
                reference=[row["reference"]],
                extra={"kind": row["kind"], "metric_scores": row["metric_scores"]},
            )
        )
        batch.ratings.append(
            NewRating(
                "realsumm-litepyramid",
                item_id,
                "realsumm",
                "litepyramid_recall",
                row["litepyramid_recall"],
            )
        )
    return batch


def wmt_mqm_ted_ende(folder: Path) -> _Batch:
    refs = {r["id"]: r["reference"] for r in _jsonl(folder / "translation_en_de.jsonl")}
    batch = _Batch(
        "wmt-mqm-ted-ende",
        {"wmt-mqm-expert": ("WMT21 TED en-de expert MQM penalty (mean over raters)", "human")},
        [],
        [],
    )
    for row in _jsonl(folder / "system_outputs_mqm.jsonl"):
        item_id = f"wmt-mqm-ted-ende:{row['id']}:{row['system']}"
        batch.items.append(
            RatedItem(
                id=item_id,
                dataset="wmt-mqm-ted-ende",
                group_id=row["id"],
                system_id=row["system"],
                source=row["source"],
                response=row["output"],
                reference=refs[row["id"]],
                extra={"doc": row["doc"], "seg_id": row["seg_id"], "raters": row["raters"]},
            )
        )
        batch.ratings.append(
            NewRating("wmt-mqm-expert", item_id, "mqm", "mqm_penalty", row["mqm_penalty"])
        )
    return batch


LLMBAR_JUDGES = {"GPT-4": "gpt-4", "ChatGPT": "chatgpt", "LLaMA2": "llama2", "PaLM2": "palm2"}


def llmbar_pairwise(folder: Path) -> _Batch:
    annotators = {"llmbar-gold": ("LLMBar gold preference (experts / human majority)", "human")}
    annotators |= {
        a: (f"{name} (released LLMBar verdicts)", "judge") for name, a in LLMBAR_JUDGES.items()
    }
    batch = _Batch("llmbar-pairwise", annotators, [], [])
    for row in _jsonl(folder / "pairs.jsonl"):
        item_id = f"llmbar-pairwise:{row['id']}"
        batch.items.append(
            RatedItem(
                id=item_id,
                dataset="llmbar-pairwise",
                group_id=row["set"],
                source=row["input"],
                response=row["output_1"],
                response_b=row["output_2"],
                extra={"set": row["set"]},
            )
        )
        batch.ratings.append(
            _pairwise("llmbar-gold", item_id, "pairwise", "preference", row["label"])
        )
    for row in _jsonl(folder / "judge_verdicts.jsonl"):
        item_id = f"llmbar-pairwise:{row['id']}"
        judge, rubric = LLMBAR_JUDGES[row["judge"]], f"pairwise:{row['strategy']}"
        batch.ratings.append(_pairwise(judge, item_id, rubric, "preference", row["winner_ab"]))
        batch.ratings.append(
            _pairwise(judge, item_id, rubric, "preference_swapped", row["winner_ba"])
        )
    return batch


def pandalm_testset(folder: Path) -> _Batch:
    annotators = {
        f"pandalm-annotator{k}": (f"PandaLM human annotator {k}", "human") for k in (1, 2, 3)
    }
    annotators |= {
        "gpt-3.5-turbo": ("GPT-3.5-turbo (PandaLM's released verdicts)", "judge"),
        "pandalm-7b": ("PandaLM-7B (released verdicts)", "judge"),
    }
    batch = _Batch("pandalm-testset", annotators, [], [])
    rows = _json(folder / "testset-v1.json")
    gpt = {r["idx"]: r for r in _json(folder / "gpt-3.5-turbo-testset-v1.json")}
    panda = {r["idx"]: r for r in _json(folder / "pandalm-7b-testset-v1.json")}
    instructions: dict[str, int] = {}
    for row in rows:
        item_id = f"pandalm-testset:{row['idx']}"
        task = instructions.setdefault(row["instruction"], len(instructions))
        source = row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "")
        batch.items.append(
            RatedItem(
                id=item_id,
                dataset="pandalm-testset",
                group_id=f"instruction-{task}",
                system_id=row["cmp_key"],
                source=source,
                response=row["response1"],
                response_b=row["response2"],
                extra={k: row[k] for k in ("motivation_app", "cmp_key", "instruction", "input")},
            )
        )
        for k in (1, 2, 3):
            batch.ratings.append(
                _pairwise(
                    f"pandalm-annotator{k}", item_id, "pairwise", "preference", row[f"annotator{k}"]
                )
            )
        g, p = gpt[row["idx"]], panda[row["idx"]]
        batch.ratings.append(
            _pairwise(
                "gpt-3.5-turbo",
                item_id,
                "pairwise",
                "preference",
                g["gpt_result"],
                g.get("gpt_reason"),
            )
        )
        batch.ratings.append(
            _pairwise(
                "pandalm-7b",
                item_id,
                "pairwise",
                "preference",
                p["pandalm_result"],
                p.get("pandalm_reason"),
            )
        )
    return batch


IMPORTERS: dict[str, Callable[[Path], _Batch]] = {
    "summeval": summeval,
    "unieval-meta": unieval_meta,
    "realsumm": realsumm,
    "wmt-mqm-ted-ende": wmt_mqm_ted_ende,
    "llmbar-pairwise": llmbar_pairwise,
    "pandalm-testset": pandalm_testset,
}


def import_dataset(store: Store, name: str, data_dir: str | Path | None = None) -> ImportResult:
    """Import one bundled human-judgment set (a key of ``IMPORTERS``) into the store."""
    if name not in IMPORTERS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(IMPORTERS)}")
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    if not (folder / name).is_dir():
        raise DataError(f"no folder {folder / name} (--data-dir: a folder holding {name}/)")
    return IMPORTERS[name](folder / name).write(store)
