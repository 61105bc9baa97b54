"""Retrieval for a task's rows: one batched search before any prompt is rendered.

``retrieve_for_items`` renders each row's query, looks all of them up in one ``search`` call and
evaluates the gold passage ids; ``items.build_items`` puts the hits into each row's template
context under ``rag.passages_field`` and keeps them on the item, and the runner stores them with
the sample (``rag_record``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateError

from evalharness.errors import ConfigError, DataError
from evalharness.prompts import field_value, render
from evalharness.rag.corpus import Corpus, load_corpus
from evalharness.rag.retrievers import RETRIEVER_NAMES, Hit, Retriever, build_retriever

if TYPE_CHECKING:
    from evalharness.config import RagSpec

_ROW_ERRORS = (TemplateError, TypeError, ValueError, KeyError, IndexError, AttributeError)
# Built retrievers, reused across tasks and runs of one process: (name, source, digest, cache)
_BUILT: dict[tuple[str, str, str, str], Retriever] = {}


@dataclass(frozen=True)
class Retrieval:
    hits: tuple[Hit, ...]  # best first; empty with retriever "none"
    gold: tuple[str, ...]  # gold passage ids; empty when the task gives none


def corpus_for(rag: RagSpec, base: Path) -> Corpus:
    path = (base / rag.corpus).resolve()
    return load_corpus(path, chunk_size=rag.chunk_size, chunk_overlap=rag.chunk_overlap)


def get_retriever(name: str, corpus: Corpus, cache_dir: Path | None = None) -> Retriever:
    """The retriever ``name`` over ``corpus``, built (or loaded from the index cache) once."""
    key = (name, corpus.source, corpus.digest, str(cache_dir))
    if key not in _BUILT:
        _BUILT[key] = build_retriever(name, corpus, cache_dir=cache_dir)
    return _BUILT[key]


def retrieve_for_items(
    rag: RagSpec,
    rows: Sequence[dict[str, Any]],
    base: Path,
    task_file: Path | str,
    *,
    retriever: str | None = None,
    cache_dir: Path | None = None,
) -> list[Retrieval]:
    """One ``Retrieval`` per row. ``retriever`` overrides ``rag.retriever`` (a run option)."""
    name = retriever or rag.retriever
    if name not in RETRIEVER_NAMES:
        raise ConfigError(f"unknown retriever {name!r} (known: {', '.join(RETRIEVER_NAMES)})")
    queries = [
        _row_value(task_file, "rag.query", i, render, rag.query, row) for i, row in enumerate(rows)
    ]
    golds = [_gold(rag, task_file, i, row) for i, row in enumerate(rows)]
    corpus = corpus_for(rag, base) if rows and (name != "none" or rag.gold) else None
    if corpus is not None and rag.gold:
        known = set(corpus.ids)
        for i, gold in enumerate(golds):
            missing = [g for g in gold if g not in known]
            if missing:
                raise DataError(
                    f"{task_file}: rag.gold: row {i + 1}: passage id(s) {missing} are not in "
                    f"the corpus {corpus.source}"
                )
    if name == "none" or corpus is None:
        return [Retrieval((), gold) for gold in golds]
    hits = get_retriever(name, corpus, cache_dir).search(queries, rag.k)
    return [Retrieval(tuple(h), gold) for h, gold in zip(hits, golds, strict=True)]


def _row_value(task_file: Path | str, field: str, i: int, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except _ROW_ERRORS as exc:
        raise DataError(f"{task_file}: {field}: row {i + 1}: {exc}") from None


def _gold(rag: RagSpec, task_file: Path | str, i: int, row: dict[str, Any]) -> tuple[str, ...]:
    if not rag.gold:
        return ()
    value = _row_value(task_file, "rag.gold", i, field_value, rag.gold, row)
    if isinstance(value, str | int):
        return (str(value),)
    if isinstance(value, list | tuple) and value:
        return tuple(str(v) for v in value)
    raise DataError(
        f"{task_file}: rag.gold: row {i + 1}: expected an id or a list of ids, got {value!r}"
    )


def context_rows(retrieval: Retrieval) -> list[dict[str, Any]]:
    """The hits as the prompt template sees them."""
    return [hit.as_dict() for hit in retrieval.hits]


def rag_record(
    rag: RagSpec | None, retrieved: Sequence[Hit], gold: Sequence[str]
) -> dict[str, Any]:
    """What a RAG task adds to a sample's stored ``result`` (nothing for a task without rag)."""
    if rag is None:
        return {}
    record: dict[str, Any] = {"retrieved": [hit.as_dict() for hit in retrieved]}
    if gold:
        record["gold_passages"] = list(gold)
    return record
