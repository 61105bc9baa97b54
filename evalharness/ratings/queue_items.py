"""What the annotation desk offers: where items come from (``Source``) and one item as shown
(``QueueItem``); plain data shared by the desk (``desk.py``) and two-run pairs (``pairs.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SourceKind = Literal["task", "dataset", "pair"]


@dataclass(frozen=True)
class Source:
    """Where a queue's items come from: a task of the stored runs, an imported dataset, or
    two runs' answers to the same items of a task (``runs``; pairwise rubrics)."""

    kind: SourceKind
    name: str
    runs: tuple[str, str] | None = field(default=None, repr=False)  # never shown: blind
    number: int = 0  # pairs of one task are told apart by number, never by run or model

    @property
    def label(self) -> str:
        if self.kind == "pair":
            return f"two answers side by side: {self.name} #{self.number}"
        return f"{'run outputs' if self.kind == 'task' else 'dataset'}: {self.name}"


@dataclass(frozen=True)
class QueueItem:
    """What the annotator is shown of one item (nothing that names a model, run or metric).

    ``item_id``, ``pointer`` and ``shown`` are bookkeeping used to save ratings; pages never
    show them. ``shown``: for a two-run pair, the run whose answer is response A, then B.
    """

    item_id: str
    source: str | None
    response: str | None
    response_b: str | None = None
    reference: Any = None
    context: str | None = None
    pointer: tuple[str, str, int] | None = field(default=None, repr=False)  # run, task, idx
    shown: tuple[str, str] | None = field(default=None, repr=False)
