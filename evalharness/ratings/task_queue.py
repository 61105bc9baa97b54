"""A task's annotation queue over every finished run, at any size.

The samples are listed by key alone: one aggregated string of dataset indices per run, read
from the (run, task, idx) index and the partial index of failed samples. Their order is a
stable hash of (run, task, idx) computed with numpy, the same for every annotator and for
``ppi.plan``; only the samples offered are read in full. A million-sample queue costs one
index scan and a few array passes, not a million item objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import String, cast, func, select

from evalharness.ratings.queue_items import QueueItem
from evalharness.store import Run, Sample, Store

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def sample_item_id(run_id: str, task: str, idx: int) -> str:
    return f"run:{run_id}:{task}:{idx}"


def sample_order(run_id: str, task: str, idx: np.ndarray) -> np.ndarray:
    """Stable pseudo-random keys (uint64) of a run's samples of a task: the splitmix64 finalizer
    of the index offset by a hash of (run, task), so runs interleave."""
    digest = hashlib.sha256(f"{run_id}:{task}".encode()).digest()
    z = np.asarray(idx, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z + np.uint64(int.from_bytes(digest[:8], "little"))) & _MASK
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class TaskKeys:
    """The samples of ``task`` without error in finished runs: ``runs[i]`` holds the sorted
    indices ``idx[offsets[i]:offsets[i + 1]]``."""

    task: str
    runs: list[str]
    offsets: np.ndarray
    idx: np.ndarray

    def __len__(self) -> int:
        return len(self.idx)

    def positions(self, item_ids: Collection[str]) -> dict[str, int]:
        """{item id: position} of the ids that name one of these samples."""
        where = {run_id: n for n, run_id in enumerate(self.runs)}
        found = {}
        suffix = f":{self.task}"
        for item_id in item_ids:
            head, _, idx = item_id.rpartition(":")
            if not (item_id.startswith("run:") and head.endswith(suffix) and idx.isdigit()):
                continue
            n = where.get(head[4 : -len(suffix)])
            if n is None:
                continue
            lo, hi = self.offsets[n], self.offsets[n + 1]
            at = lo + int(np.searchsorted(self.idx[lo:hi], int(idx)))
            if at < hi and self.idx[at] == int(idx):
                found[item_id] = int(at)
        return found

    def pointer(self, position: int) -> tuple[str, str, int]:
        n = int(np.searchsorted(self.offsets, position, side="right")) - 1
        return self.runs[n], self.task, int(self.idx[position])


def _indices(store: Store, task: str, failed: bool) -> dict[str, np.ndarray]:
    finished = select(Run.id).where(Run.status == "finished")
    query = (
        select(Sample.run_id, func.aggregate_strings(cast(Sample.idx, String), ","))
        .where(Sample.task == task, Sample.run_id.in_(finished))
        .group_by(Sample.run_id)
    )
    if failed:  # the partial index of failed samples answers this one
        query = query.where(Sample.error.is_not(None))
    with store.session() as s:
        return {
            run_id: np.array(text.split(","), dtype=np.int64) for run_id, text in s.execute(query)
        }


def task_keys(store: Store, task: str) -> TaskKeys:
    """The keys of the task's samples without error in finished runs (no sample rows read)."""
    failed = _indices(store, task, failed=True)
    runs, parts = [], []
    for run_id, idx in sorted(_indices(store, task, failed=False).items()):
        runs.append(run_id)
        parts.append(np.setdiff1d(idx, failed.get(run_id, ())))  # sorted and unique
    sizes = [0, *(len(p) for p in parts)]
    idx = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return TaskKeys(task, runs, np.cumsum(sizes), idx)


def offer_order(
    keys: TaskKeys, done: Collection[str], raters: Mapping[str, int], skipped: Sequence[str]
) -> np.ndarray:
    """Positions not yet ``done``, in the desk's order: skipped last (in the order skipped),
    then fewest raters first, then the stable hash."""
    order = np.empty(len(keys), dtype=np.uint64)
    for n, run_id in enumerate(keys.runs):
        lo, hi = keys.offsets[n], keys.offsets[n + 1]
        order[lo:hi] = sample_order(run_id, keys.task, keys.idx[lo:hi])
    count = np.zeros(len(keys), dtype=np.int64)
    for item_id, at in keys.positions(raters).items():
        count[at] = raters[item_id]
    later = np.full(len(keys), -1, dtype=np.int64)
    for item_id, at in keys.positions(skipped).items():
        later[at] = skipped.index(item_id)
    keep = np.ones(len(keys), dtype=bool)
    keep[list(keys.positions(done).values())] = False
    kept = np.flatnonzero(keep)
    return kept[np.lexsort((order[kept], count[kept], later[kept]))]


def load_items(store: Store, keys: TaskKeys, positions: Sequence[int]) -> list[QueueItem]:
    """The queue items at these positions, in the order given; a sample without generated text
    (an empty generation) has nothing to rate and is left out."""
    wanted: dict[str, list[int]] = {}
    for position in positions:
        run_id, _, idx = keys.pointer(position)
        wanted.setdefault(run_id, []).append(idx)
    found: dict[tuple[str, int], QueueItem] = {}
    with store.session() as s:
        for run_id, indices in wanted.items():
            query = (
                select(Sample.idx, Sample.prompt, Sample.output, Sample.reference)
                .where(Sample.run_id == run_id, Sample.task == keys.task)
                .where(Sample.idx.in_(indices), Sample.output.is_not(None))
            )
            for idx, prompt, output, reference in s.execute(query):
                pointer = (run_id, keys.task, idx)
                found[(run_id, idx)] = QueueItem(
                    sample_item_id(*pointer), prompt, output, reference=reference, pointer=pointer
                )
    pointers = (keys.pointer(p) for p in positions)
    return [item for run_id, _, idx in pointers if (item := found.get((run_id, idx)))]
