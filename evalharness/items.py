"""Turn a task's dataset rows into evaluation items: rendered prompts, references, choices."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from evalharness.config import TaskSpec
from evalharness.data import FewShotSampler, Row, load_rows
from evalharness.errors import ConfigError, DataError
from evalharness.prompts import build_prompt, field_value, render
from evalharness.rag.pipeline import Retrieval, context_rows, retrieve_for_items
from evalharness.rag.retrievers import Hit
from evalharness.requests import Prompt
from evalharness.template_budget import TemplateBudgetError


@dataclass(frozen=True)
class Item:
    idx: int
    row: Row
    prompt: Prompt = ""
    references: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    gold: int = -1
    followups: tuple[str, ...] = ()  # later user turns of a multi-turn chat
    text: str = ""  # perplexity: the scored text
    count_text: str = ""  # perplexity: the text whose words and bytes normalise it
    retrieved: tuple[Hit, ...] = ()  # rag: the passages retrieved for this row, best first
    gold_passages: tuple[str, ...] = ()  # rag: ids of the passages that answer it


def build_items(
    spec: TaskSpec,
    base: Path,
    task_file: Path,
    limit: int | None,
    *,
    rag_retriever: str | None = None,
) -> list[Item]:
    """``rag_retriever`` overrides the retriever of a task's ``rag:`` block.

    Few-shot examples drawn from the task's own rows come from all of them, so ``limit``
    changes which rows are evaluated, never the examples shown before a row.
    """
    try:
        every_row = load_rows(spec.dataset, base)
    except DataError as exc:
        raise DataError(f"{task_file}: dataset: {exc}") from None
    limit = limit or spec.limit
    rows = every_row[:limit] if limit is not None else every_row
    sampler = None
    if spec.fewshot and spec.fewshot.k:
        try:
            sampler = FewShotSampler(spec.fewshot, every_row, base)
        except DataError as exc:
            raise DataError(f"{task_file}: fewshot: {exc}") from None
    retrievals = _retrieve(spec, rows, base, task_file, sampler, rag_retriever)
    items = []
    for idx, row in enumerate(rows):
        field = "prompt"
        try:
            if retrievals is None:
                items.append(_item(spec, idx, row, sampler))
            else:
                items.append(_rag_item(spec, idx, row, retrievals[idx]))
        except _FieldError as exc:
            field, cause = exc.field, exc.cause
            source = spec.dataset.path or f"hf:{spec.dataset.hf}"
            if exc.budget:  # the template's fault, not the row's
                raise ConfigError(
                    f"{task_file}: task {spec.name!r}: template {field!r} (row {idx + 1} of "
                    f"{source}): {cause}"
                ) from None
            raise DataError(f"{task_file}: {field}: row {idx + 1} of {source}: {cause}") from None
    return items


def _retrieve(
    spec: TaskSpec,
    rows: list[Row],
    base: Path,
    task_file: Path,
    sampler: FewShotSampler | None,
    retriever: str | None,
) -> list[Retrieval] | None:
    """Passages for every row in one batched search; None for a task without ``rag:``."""
    if spec.rag is None:
        return None
    if sampler is not None:
        raise ConfigError(f"{task_file}: fewshot: few-shot examples do not work with rag: yet")
    return retrieve_for_items(spec.rag, rows, base, task_file, retriever=retriever)


def _rag_item(spec: TaskSpec, idx: int, row: Row, retrieval: Retrieval) -> Item:
    """The row's item rendered with the hits in its context; the stored row stays as read."""
    assert spec.rag is not None
    context = {**row, spec.rag.passages_field: context_rows(retrieval)}
    item = _item(spec, idx, context, None)
    return replace(item, row=row, retrieved=retrieval.hits, gold_passages=retrieval.gold)


class _FieldError(Exception):
    def __init__(self, field: str, cause: Exception | str, budget: bool = False) -> None:
        self.field, self.cause, self.budget = field, cause, budget


def _get(field: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except TemplateBudgetError as exc:
        raise _FieldError(field, exc, budget=True) from None
    except (TemplateError, TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise _FieldError(field, exc) from None


def _item(spec: TaskSpec, idx: int, row: Row, sampler: FewShotSampler | None) -> Item:
    if spec.output_type == "perplexity":
        text = _get("text", render, spec.text, row)
        count_text = _get("count_text", render, spec.count_text, row) if spec.count_text else text
        return Item(idx, row, text=text, count_text=count_text)
    shots = []
    if sampler is not None:
        for shot in sampler.shots(idx):
            shots.append(
                (
                    _get("prompt", render, spec.prompt, shot),
                    _get("fewshot.target", render, spec.fewshot.target, shot),
                )
            )
    prompt = build_prompt(
        prompt=_get("prompt", render, spec.prompt, row),
        chat=spec.format == "chat",
        system_prompt=spec.system_prompt,
        shots=shots,
        separator=spec.fewshot.separator if spec.fewshot else "\n\n",
    )
    if spec.output_type == "generate":
        refs = _get("references", field_value, spec.references, row) if spec.references else ()
        refs = (refs,) if isinstance(refs, str) else tuple(str(r) for r in _a_list(refs))
        if not refs and spec.metrics:
            raise _FieldError("references", "no reference")
        followups = _get("followups", field_value, spec.followups, row) if spec.followups else ()
        if isinstance(followups, str):
            raise _FieldError("followups", f"expected a list of turns, got {followups!r}")
        followups = tuple(str(turn) for turn in _a_list(followups, "followups"))
        return Item(idx, row, prompt=prompt, references=refs, followups=followups)
    choices = _get("choices", field_value, spec.choices, row)
    if not isinstance(choices, list | tuple) or not choices:
        raise _FieldError("choices", f"expected a non-empty list, got {choices!r}")
    gold = _get("gold", lambda: int(field_value(spec.gold, row)))
    if not 0 <= gold < len(choices):
        raise _FieldError("gold", f"index {gold} outside the {len(choices)} choices")
    return Item(idx, row, prompt=prompt, choices=tuple(str(c) for c in choices), gold=gold)


def _a_list(value: Any, field: str = "references") -> list[Any] | tuple[Any, ...]:
    """A list (or tuple) an expression returned; None is empty; anything else a field error."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise _FieldError(field, f"expected a string or a list of strings, got {value!r}")
    return value
