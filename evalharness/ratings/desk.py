"""The annotation desk's logic: what an annotator rates next, and saving what they answered.

Items come from three sources: the generations of finished runs (one task at a time, every
run of it mixed together; only under the rubrics that fit what the task generates), two runs'
answers side by side for pairwise rubrics (``pairs.py``), and imported rated items (one dataset
at a time). A run sample becomes a ``rated_items`` row (``run:<run_id>:<task>:<idx>``, pointing
back to the sample) when it is first rated; chat prompts are shown turn by turn. What an
annotator sees is BLIND: the input, the response(s) and, when the rubric asks, the reference
and context; never the model, the run, a metric or a judge score.

Order: items with the fewest raters of this rubric first (so coverage grows evenly and
overlap for agreement comes next), then a stable hash of the item id, the same for every
annotator. An item is never offered again to an annotator who rated it under the rubric.
Every rating is written at once, in one transaction per item; concurrent annotators only add
rows, and the few create-if-missing writes tolerate a concurrent creator.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from evalharness.errors import DataError
from evalharness.judges.rubric import Criterion, Rubric
from evalharness.ratings.pairs import pair_candidates, pair_rated_item, pair_sources
from evalharness.ratings.queue_items import QueueItem, Source
from evalharness.ratings.records import (
    Annotator,
    HumanRating,
    NewRating,
    RatedItem,
    add_items,
    add_ratings,
    ensure_annotator,
)
from evalharness.ratings.task_queue import load_items, offer_order, task_keys
from evalharness.store import Run, Sample, Store
from evalharness.usage import usage_by_task

_TURN = re.compile(r"(?:^|\n\n)\[(system|user|assistant)\]\n")


def prompt_turns(text: str | None) -> list[tuple[str, str]] | None:
    """A stored chat prompt (``prompts.prompt_text``: ``[role]`` lines between turns) as its
    (role, text) turns; None for a plain prompt. A turn whose own text holds a blank line then
    ``[user]`` on a line of its own is split there: the stored text cannot tell them apart."""
    if not text or _TURN.match(text) is None:
        return None
    parts = _TURN.split(text)[1:]  # role, text, role, text, ...
    return [(role, body) for role, body in zip(parts[::2], parts[1::2], strict=True)]


def desk_order(item_id: str) -> str:
    """The stable order of imported and two-run items (run samples: ``task_queue.sample_order``)."""
    return hashlib.sha256(item_id.encode()).hexdigest()


def task_kinds(store: Store) -> dict[str, str]:
    """What each task of the finished runs generates (its ``generates:``, kept in the run's
    config), for the tasks that declare it."""
    with store.session() as s:
        configs = s.scalars(select(Run.config).where(Run.status == "finished"))
        return {task: kind for config in configs
                for task, kind in ((config or {}).get("generates") or {}).items()}  # fmt: skip


def generation_tasks(store: Store) -> list[str]:
    """The tasks of finished runs that generate text: per-task totals come from the stored
    usage rows, and one sample of each task's smallest run tells whether it generates, so the
    answer never scans the samples table."""
    with store.session() as s:
        finished = list(s.scalars(select(Run.id).where(Run.status == "finished")))
    smallest: dict[str, tuple[int, str]] = {}
    for (run_id, task), totals in usage_by_task(store, finished).items():
        answered = (totals.get("samples") or 0) - (totals.get("failed") or 0)
        if answered > 0 and (answered, run_id) < smallest.get(task, (answered + 1, run_id)):
            smallest[task] = (answered, run_id)
    found = []
    with store.session() as s:
        for task, (_, run_id) in sorted(smallest.items()):
            probe = (
                select(Sample.id)
                .where(Sample.run_id == run_id, Sample.task == task)
                .where(Sample.error.is_(None), Sample.output.is_not(None))
                .where(Sample.result["texts"].as_string().is_not(None))
                .limit(1)
            )
            if s.scalar(probe) is not None:
                found.append(task)
    return found


def sources(store: Store, rubric: Rubric) -> list[Source]:
    """What the rubric can rate: tasks of finished runs with generated text that it fits
    (``fits:`` against each task's ``generates:``) -- one by one for a pointwise rubric, two
    runs side by side for a pairwise one (``pairs.py``) -- and imported datasets with
    responses (pairwise rubrics: items with a second response)."""
    tasks = generation_tasks(store)
    kinds = task_kinds(store) if rubric.fits else {}
    if rubric.mode == "pointwise":
        found = [Source("task", t) for t in tasks if rubric.fits_kind(kinds.get(t))]
    else:
        found = pair_sources(store, rubric, tasks, kinds)
    column = RatedItem.response if rubric.mode == "pointwise" else RatedItem.response_b
    query = (
        select(RatedItem.dataset)
        .where(column.is_not(None), RatedItem.run_id.is_(None))
        .distinct()
        .order_by(RatedItem.dataset)
    )
    with store.session() as s:
        found += [Source("dataset", d) for d in s.scalars(query)]
    return found


def _dataset_items(store: Store, source: Source, rubric: Rubric) -> dict[str, QueueItem]:
    if source.kind == "pair":
        return {item.item_id: item for item in pair_candidates(store, source)}
    query = select(RatedItem).where(RatedItem.dataset == source.name, RatedItem.run_id.is_(None))
    if rubric.mode == "pairwise":
        query = query.where(RatedItem.response_b.is_not(None))
    with store.session() as s:
        items = list(s.scalars(query))
    return {
        i.id: QueueItem(i.id, i.source, i.response, i.response_b, i.reference, i.context)
        for i in items
    }


def rated_by(store: Store, annotator: str, rubric: str) -> set[str]:
    """Item ids this annotator rated under ``rubric`` (any criterion)."""
    query = select(HumanRating.item_id).where(
        HumanRating.annotator_id == annotator, HumanRating.rubric == rubric
    )
    with store.session() as s:
        return set(s.scalars(query.distinct()))


def _raters(store: Store, rubric: str) -> dict[str, int]:
    query = (
        select(HumanRating.item_id, func.count(func.distinct(HumanRating.annotator_id)))
        .join(Annotator, Annotator.id == HumanRating.annotator_id)
        .where(HumanRating.rubric == rubric, Annotator.kind == "human")
        .group_by(HumanRating.item_id)
    )
    with store.session() as s:
        return {item: int(n) for item, n in s.execute(query).all()}


@dataclass(frozen=True)
class DeskState:
    """Where an annotator stands on one source: ``done`` of ``total`` items rated, and the
    next items to offer (all of them, or the first ``limit``), in order."""

    done: int
    total: int
    todo: list[QueueItem]


def desk_state(
    store: Store,
    annotator: str,
    rubric: Rubric,
    source: Source,
    *,
    skipped: Sequence[str] = (),
    limit: int | None = None,
) -> DeskState:
    """The annotator's progress and next items. A task's samples are listed by key from the
    indices and only the offered ones are read, so a queue over a million samples stays quick.
    Skipped items (this session's ``skipped`` ids) go to the end, in the order skipped."""
    done = rated_by(store, annotator, rubric.name)
    raters = _raters(store, rubric.name)
    if source.kind == "task":
        keys = task_keys(store, source.name)
        order = offer_order(keys, done, raters, skipped)
        wanted, start, items = len(order) if limit is None else limit, 0, []
        while len(items) < wanted and start < len(order):  # a few more when some lack text
            chunk = max(2 * (wanted - len(items)), 16)
            items += load_items(store, keys, order[start : start + chunk])
            start += chunk
        return DeskState(len(keys) - len(order), len(keys), items[:wanted])
    candidates = _dataset_items(store, source, rubric)
    later = {item_id: n for n, item_id in enumerate(skipped)}
    todo = sorted(
        (item_id for item_id in candidates if item_id not in done),
        key=lambda i: (later.get(i, -1), raters.get(i, 0), desk_order(i)),
    )
    rated = len(candidates) - len(todo)
    return DeskState(rated, len(candidates), [candidates[i] for i in todo[:limit]])


def queue(
    store: Store,
    annotator: str,
    rubric: Rubric,
    source: Source,
    *,
    skipped: Sequence[str] = (),
    limit: int | None = None,
) -> list[QueueItem]:
    """The items ``annotator`` has still to rate, in the order they are offered (see
    ``desk_state``)."""
    return desk_state(store, annotator, rubric, source, skipped=skipped, limit=limit).todo


def progress(store: Store, annotator: str, rubric: Rubric, source: Source) -> tuple[int, int]:
    """(rated by this annotator, total) items of ``source`` for ``rubric``."""
    state = desk_state(store, annotator, rubric, source, limit=0)
    return state.done, state.total


# ----------------------------------------------------------------------------- saving


def answer_value(criterion: Criterion, answer: Any) -> tuple[float | None, str | None]:
    """(score, label) stored for an answer: a scale level, a label, or a list of MQM errors
    (``[{"category", "severity"}]``, stored as its penalty score, lower is better)."""
    if criterion.kind == "score":
        if str(answer) not in criterion.scale.values():  # type: ignore[union-attr]
            raise DataError(f"{criterion.name}: {answer!r} is not a level of the scale")
        return float(answer), None
    if criterion.kind == "label":
        labels = criterion.scale.labels  # type: ignore[union-attr]
        if str(answer) not in labels:
            raise DataError(f"{criterion.name}: {answer!r} is not one of {', '.join(labels)}")
        return None, str(answer)
    scheme = criterion.errors
    assert scheme is not None
    errors = list(answer or [])
    for e in errors:
        if e.get("category") not in scheme.categories or e.get("severity") not in scheme.weights:
            raise DataError(f"{criterion.name}: unknown error {e!r}")
    return float(scheme.penalty(errors)), None


def _sample_item(store: Store, item: QueueItem) -> RatedItem:
    assert item.pointer is not None
    run_id, task, idx = item.pointer
    run = store.get_run(run_id)
    reference = item.reference
    return RatedItem(
        id=item.item_id,
        dataset=task,
        group_id=f"{task}:{idx}",  # the same question across runs: summary-level agreement
        system_id=run.model,
        source=item.source,
        response=item.response,
        reference=reference if isinstance(reference, str | list) else json.dumps(reference),
        run_id=run_id,
        task=task,
        sample_idx=idx,
    )


def _tolerant(write: Any, *args: Any) -> None:
    """A create-if-missing write; a concurrent creator winning the race is fine."""
    with contextlib.suppress(IntegrityError):
        write(*args)


def _check_human(store: Store, annotator: str) -> None:
    """The desk records people: an id stored as a judge or a metric cannot rate here."""
    with store.session() as s:
        known = s.get(Annotator, annotator)
    if known is not None and known.kind != "human":
        raise DataError(
            f"annotator {annotator!r} is a {known.kind}, not a human; the annotation desk "
            "saves human ratings only (choose your own name)"
        )


def submit(
    store: Store,
    annotator: str,
    item: QueueItem,
    rubric: Rubric,
    answers: Mapping[str, Any],
    comment: str | None = None,
) -> int:
    """Save one item's answers (every criterion of the rubric); returns rows written.

    The annotator and (for a run sample) the rated item are created if missing.
    """
    missing = [c.name for c in rubric.criteria if c.name not in answers]
    if missing:
        raise DataError(f"answer every criterion; missing: {', '.join(missing)}")
    if not annotator.strip():
        raise DataError("choose an annotator name first")
    _check_human(store, annotator)
    rows = []
    for criterion in rubric.criteria:
        score, label = answer_value(criterion, answers[criterion.name])
        rows.append(
            NewRating(annotator, item.item_id, rubric.name, criterion.name, score, label, comment)
        )
    _tolerant(ensure_annotator, store, annotator)
    if item.pointer is not None:
        rated = pair_rated_item(item) if item.shown else _sample_item(store, item)
        _tolerant(add_items, store, [rated])
    return add_ratings(store, rows)
