"""Two runs' answers to the same items, rated side by side at the desk (pairwise rubrics).

For each task that a pairwise rubric fits, every two of its latest ``RECENT_RUNS`` finished
runs form a source; an item is a sample index both runs answered. The order is blind and
random: a hash of the item id decides which run's answer is shown as A, and the rated item
stores that order (``extra``: ``shown_a``, ``shown_b``), so a label maps back to its run
(``winner``). Rated items go to the dataset ``pairwise:<task>``.
"""

from __future__ import annotations

import hashlib
from itertools import combinations
from typing import Any

from sqlalchemy import select

from evalharness.judges.rubric import Rubric
from evalharness.ratings.queue_items import QueueItem, Source
from evalharness.ratings.records import RatedItem
from evalharness.store import Run, Sample, Store

RECENT_RUNS = 8  # per task: 28 pairs at most


def pair_item_id(run_a: str, run_b: str, task: str, idx: int) -> str:
    return f"pair:{run_a}:{run_b}:{task}:{idx}"


def _a_first(item_id: str) -> bool:
    return hashlib.sha256(item_id.encode()).digest()[0] % 2 == 0


def pair_sources(store: Store, rubric: Rubric, tasks: list[str], kinds: dict[str, str]) -> list:
    """The two-run sources of the generation ``tasks`` the rubric fits."""
    found: list[Source] = []
    for task in tasks:
        if not rubric.fits_kind(kinds.get(task)):
            continue
        query = (
            select(Run.id)
            .join(Sample, Sample.run_id == Run.id)
            .where(Run.status == "finished", Sample.task == task, Sample.output.is_not(None))
            .group_by(Run.id, Run.created_at)
            .order_by(Run.created_at.desc(), Run.id)
            .limit(RECENT_RUNS)
        )
        with store.session() as s:
            runs = sorted(s.scalars(query))
        found += [Source("pair", task, runs=(a, b), number=n)
                  for n, (a, b) in enumerate(combinations(runs, 2), start=1)]  # fmt: skip
    return found


def pair_candidates(store: Store, source: Source) -> list[QueueItem]:
    """The items both runs of ``source`` answered, each in its stored random order."""
    assert source.runs is not None
    run_a, run_b = source.runs
    query = (
        select(Sample.run_id, Sample.idx, Sample.prompt, Sample.output, Sample.reference)
        .where(Sample.run_id.in_([run_a, run_b]), Sample.task == source.name)
        .where(Sample.error.is_(None), Sample.output.is_not(None))
    )
    with store.session() as s:
        rows = s.execute(query).all()
    answers = {(run, idx): (prompt, output, ref) for run, idx, prompt, output, ref in rows}
    out = []
    for idx in sorted({i for run, i in answers if run == run_a} & {i for run, i in answers
                                                                   if run == run_b}):  # fmt: skip
        item_id = pair_item_id(run_a, run_b, source.name, idx)
        first, second = (run_a, run_b) if _a_first(item_id) else (run_b, run_a)
        prompt, shown_a, reference = answers[(first, idx)]
        out.append(QueueItem(item_id, prompt, shown_a, answers[(second, idx)][1], reference,
                             pointer=(run_a, source.name, idx), shown=(first, second)))  # fmt: skip
    return out


def pair_rated_item(item: QueueItem) -> RatedItem:
    """The rated item of a two-run pair: both answers in the order shown, and that order."""
    assert item.pointer is not None and item.shown is not None
    run_a, task, idx = item.pointer
    return RatedItem(
        id=item.item_id,
        dataset=f"pairwise:{task}",
        group_id=f"{task}:{idx}",
        source=item.source,
        response=item.response,
        response_b=item.response_b,
        extra={"shown_a": item.shown[0], "shown_b": item.shown[1]},
        run_id=run_a,
        task=task,
        sample_idx=idx,
    )


def winner(extra: dict[str, Any], label: str) -> str:
    """The run a pairwise label ("A", "B", "tie") prefers, or "tie"."""
    key = {"a": "shown_a", "b": "shown_b"}.get(label.lower())
    return "tie" if key is None else str(extra[key])
