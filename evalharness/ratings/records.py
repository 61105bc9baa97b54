"""Human ratings in the store: annotators, rated items and ratings (never overwritten).

Three tables on the store's ``Base`` (``open_store`` creates them):

- ``annotators``: who rated: a person, the mean of a panel (``summeval-expert-mean``), a published
  judge (``unieval``, ``gpt-4``) or a metric (``rouge1``); ``kind`` is ``human``, ``judge`` or
  ``metric``, so judge-vs-human tables can be computed from the store alone.
- ``rated_items``: what was rated. Either an imported item that carries its own text (source or
  context, response, optional second response for pairwise items, reference(s), ``extra`` JSON)
  or a pointer ``run_id``/``task``/``sample_idx`` to a stored run sample. Items have readable
  string ids (``summeval:<doc_id>:<system>``) so that imports are idempotent.
- ``human_ratings``: one row per (annotator, item, rubric, criterion) judgment with a numeric
  ``score`` and/or a ``label`` (``"1"``, ``"2"``, ``"tie"``, ``"unparseable"``...) and a comment.
  A changed rating is a *new* row whose ``supersedes_id`` points to the row it replaces; the
  latest rating is the one no other row supersedes. Re-adding an identical rating is a no-op.

Example::

    store = open_store("sqlite:///ratings.db")
    add_items(store, [RatedItem(id="demo:1", dataset="demo", response="Paris.")])
    add_rating(store, "alice", "demo:1", "helpfulness", "overall", score=4)
    add_rating(store, "alice", "demo:1", "helpfulness", "overall", score=5)  # supersedes
    ratings(store, dataset="demo")          # one row: score 5
    ratings(store, dataset="demo", latest=False)  # both rows
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from evalharness.errors import DataError
from evalharness.store import Base, Store, now

if TYPE_CHECKING:
    import pandas as pd

ANNOTATOR_KINDS = ("human", "judge", "metric")


def _optional(kind: Any) -> Any:
    """A nullable column of type ``kind``."""
    return mapped_column(kind, nullable=True)


class Annotator(Base):
    __tablename__ = "annotators"
    id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(256), default="")
    kind: Mapped[str] = mapped_column(sa.String(16), default="human")  # one of ANNOTATOR_KINDS
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=now)


class RatedItem(Base):
    __tablename__ = "rated_items"
    id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    dataset: Mapped[str] = mapped_column(sa.String(128), index=True)
    group_id: Mapped[str | None] = _optional(sa.String(256))  # document, prompt
    system_id: Mapped[str | None] = _optional(sa.String(256))
    source: Mapped[str | None] = _optional(sa.Text)  # input / article / dialogue
    context: Mapped[str | None] = _optional(sa.Text)  # knowledge, retrieved text
    response: Mapped[str | None] = _optional(sa.Text)
    response_b: Mapped[str | None] = _optional(sa.Text)  # pairwise: 2nd output
    reference: Mapped[Any] = _optional(sa.JSON)  # a string or a list of strings
    extra: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    run_id: Mapped[str | None] = _optional(sa.ForeignKey("runs.id"))
    task: Mapped[str | None] = _optional(sa.String(128))
    sample_idx: Mapped[int | None] = _optional(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=now)


class HumanRating(Base):
    __tablename__ = "human_ratings"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    annotator_id: Mapped[str] = mapped_column(sa.ForeignKey("annotators.id"), index=True)
    item_id: Mapped[str] = mapped_column(sa.ForeignKey("rated_items.id"), index=True)
    rubric: Mapped[str] = mapped_column(sa.String(128))
    criterion: Mapped[str] = mapped_column(sa.String(128))
    score: Mapped[float | None] = _optional(sa.Float)
    label: Mapped[str | None] = _optional(sa.String(64))
    comment: Mapped[str | None] = _optional(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=now)
    supersedes_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("human_ratings.id"), nullable=True, index=True
    )


@dataclass(frozen=True)
class NewRating:
    """One rating to add in bulk (``add_ratings``)."""

    annotator: str
    item_id: str
    rubric: str
    criterion: str
    score: float | None = None
    label: str | None = None
    comment: str | None = None


# A rated item's fields besides ``id`` and ``dataset`` (``items`` and the CSV export show them).
ITEM_COLUMNS = [
    "group_id",
    "system_id",
    "source",
    "context",
    "response",
    "response_b",
    "reference",
    "extra",
    "run_id",
    "task",
    "sample_idx",
]

RATING_COLUMNS = [
    "rating_id",
    "annotator",
    "annotator_kind",
    "item_id",
    "dataset",
    "group_id",
    "system_id",
    "rubric",
    "criterion",
    "score",
    "label",
    "comment",
    "created_at",
    "supersedes_id",
]

_Key = tuple[str, str, str, str]  # annotator, item, rubric, criterion


def ensure_annotator(store: Store, annotator_id: str, name: str = "", kind: str = "human") -> None:
    """Create the annotator if it is new (an existing one is left as it is)."""
    if kind not in ANNOTATOR_KINDS:
        raise DataError(f"annotator {annotator_id!r}: kind must be one of {ANNOTATOR_KINDS}")
    with store.session() as s, s.begin():
        if s.get(Annotator, annotator_id) is None:
            s.add(Annotator(id=annotator_id, name=name or annotator_id, kind=kind))


def add_items(store: Store, items: Iterable[RatedItem]) -> int:
    """Insert the items whose ids are not stored yet; returns how many were new."""
    items = list(items)
    with store.session() as s, s.begin():
        known = set(
            s.scalars(sa.select(RatedItem.id).where(RatedItem.id.in_([i.id for i in items])))
        )
        new = [i for i in items if i.id not in known]
        s.add_all(new)
    return len(new)


def add_item(store: Store, item: RatedItem) -> RatedItem:
    add_items(store, [item])
    return item


def _check(rating: NewRating) -> None:
    if rating.score is None and rating.label is None:
        raise DataError(
            f"rating of item {rating.item_id!r} by {rating.annotator!r} "
            f"({rating.rubric}/{rating.criterion}) has neither a score nor a label"
        )


def _latest_rows(store: Store, keys: set[_Key]) -> dict[_Key, HumanRating]:
    """The current (not superseded) rating for each key that has one."""
    if not keys:
        return {}
    annotators = {k[0] for k in keys}
    items = {k[1] for k in keys}
    superseded = sa.select(HumanRating.supersedes_id).where(HumanRating.supersedes_id.is_not(None))
    out: dict[_Key, HumanRating] = {}
    with store.session() as s:
        item_list = sorted(items)
        for start in range(0, len(item_list), 500):  # bounded IN lists
            query = sa.select(HumanRating).where(
                HumanRating.annotator_id.in_(annotators),
                HumanRating.item_id.in_(item_list[start : start + 500]),
                HumanRating.id.not_in(superseded),
            )
            for row in s.scalars(query):
                key = (row.annotator_id, row.item_id, row.rubric, row.criterion)
                if key in keys:
                    out[key] = row
    return out


def add_ratings(store: Store, new: Sequence[NewRating]) -> int:
    """Add ratings in bulk; returns how many rows were written.

    Annotators and items must exist. A rating equal to the current one (same score, label and
    comment) writes nothing; a different one is a new row that supersedes the current row.
    """
    for rating in new:
        _check(rating)
    latest = _latest_rows(store, {(r.annotator, r.item_id, r.rubric, r.criterion) for r in new})
    rows: list[dict[str, Any]] = []
    pending: dict[_Key, dict[str, Any]] = {}
    for r in new:
        key = (r.annotator, r.item_id, r.rubric, r.criterion)
        score = None if r.score is None else float(r.score)
        row = {
            "annotator_id": r.annotator,
            "item_id": r.item_id,
            "rubric": r.rubric,
            "criterion": r.criterion,
            "score": score,
            "label": r.label,
            "comment": r.comment,
            "created_at": now(),
            "supersedes_id": latest[key].id if key in latest else None,
        }
        if key in pending:  # the same key twice in one batch: the last one wins
            pending[key].update(row)
            continue
        current = latest.get(key)
        if current is not None and (current.score, current.label, current.comment) == (
            score,
            r.label,
            r.comment,
        ):
            continue
        pending[key] = row
        rows.append(row)
    if rows:
        with store.session() as s, s.begin():
            s.execute(sa.insert(HumanRating), rows)
    return len(rows)


def add_rating(
    store: Store,
    annotator: str,
    item_id: str,
    rubric: str,
    criterion: str,
    *,
    score: float | None = None,
    label: str | None = None,
    comment: str | None = None,
    annotator_kind: str = "human",
) -> HumanRating:
    """Record one rating (creating the annotator if needed) and return the current row.

    A changed rating is stored as a new row that supersedes the old one, which is kept.
    """
    ensure_annotator(store, annotator, kind=annotator_kind)
    with store.session() as s:
        if s.get(RatedItem, item_id) is None:
            raise DataError(f"no rated item {item_id!r}; add it with add_items first")
    rating = NewRating(annotator, item_id, rubric, criterion, score, label, comment)
    add_ratings(store, [rating])
    return _latest_rows(store, {(annotator, item_id, rubric, criterion)})[
        (annotator, item_id, rubric, criterion)
    ]


def rating_history(store: Store, rating_id: int) -> list[HumanRating]:
    """The rating and every row it (transitively) supersedes, newest first."""
    chain: list[HumanRating] = []
    with store.session() as s:
        current = s.get(HumanRating, rating_id)
        while current is not None:
            chain.append(current)
            current = s.get(HumanRating, current.supersedes_id) if current.supersedes_id else None
    return chain


def ratings(
    store: Store,
    *,
    dataset: str | None = None,
    rubric: str | None = None,
    criterion: str | None = None,
    annotators: Sequence[str] | None = None,
    kind: str | None = None,
    latest: bool = True,
) -> pd.DataFrame:
    """Ratings as a DataFrame with ``RATING_COLUMNS``, one row per rating.

    ``latest`` (the default) keeps only the current rating per annotator/item/rubric/criterion;
    ``latest=False`` returns every row, superseded ones included.
    """
    import pandas as pd

    query = (
        sa.select(
            HumanRating.id,
            HumanRating.annotator_id,
            Annotator.kind,
            HumanRating.item_id,
            RatedItem.dataset,
            RatedItem.group_id,
            RatedItem.system_id,
            HumanRating.rubric,
            HumanRating.criterion,
            HumanRating.score,
            HumanRating.label,
            HumanRating.comment,
            HumanRating.created_at,
            HumanRating.supersedes_id,
        )
        .join(RatedItem, RatedItem.id == HumanRating.item_id)
        .join(Annotator, Annotator.id == HumanRating.annotator_id)
    )
    if dataset is not None:
        query = query.where(RatedItem.dataset == dataset)
    if rubric is not None:
        query = query.where(HumanRating.rubric == rubric)
    if criterion is not None:
        query = query.where(HumanRating.criterion == criterion)
    if annotators is not None:
        query = query.where(HumanRating.annotator_id.in_(list(annotators)))
    if kind is not None:
        query = query.where(Annotator.kind == kind)
    if latest:
        superseded = sa.select(HumanRating.supersedes_id).where(
            HumanRating.supersedes_id.is_not(None)
        )
        query = query.where(HumanRating.id.not_in(superseded))
    with store.session() as s:
        rows = s.execute(query.order_by(HumanRating.id)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=RATING_COLUMNS)
    frame["score"] = frame["score"].astype(float)
    return frame


def items(store: Store, dataset: str | None = None) -> pd.DataFrame:
    """Rated items as a DataFrame (one row per item, ``extra`` as a dict column)."""
    import pandas as pd

    columns = ["id", "dataset", *ITEM_COLUMNS]
    query = sa.select(*(getattr(RatedItem, c) for c in columns)).order_by(RatedItem.id)
    if dataset is not None:
        query = query.where(RatedItem.dataset == dataset)
    with store.session() as s:
        rows = s.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def datasets(store: Store) -> dict[str, int]:
    """Item counts per dataset."""
    from sqlalchemy import func

    query = sa.select(RatedItem.dataset, func.count()).group_by(RatedItem.dataset)
    with store.session() as s:
        return {name: int(n) for name, n in s.execute(query).all()}


def annotators(store: Store) -> list[Annotator]:
    with store.session() as s:
        return list(s.scalars(sa.select(Annotator).order_by(Annotator.id)))
