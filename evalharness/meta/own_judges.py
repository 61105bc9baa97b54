"""A team's own judges against the people who rated the same run samples.

The judge side is the ``judgments`` table's parsed pointwise verdicts on run samples that are
rated items of a dataset (a task's name, for items saved by the annotation desk); the human side
is the mean score of human annotators per item. ``calibrate`` stores what ``measure`` finds.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from evalharness.judges.records import Judgment
from evalharness.meta.agreement import item_level
from evalharness.ratings.agreement import STORED, Agreement
from evalharness.ratings.records import RatedItem, ratings
from evalharness.store import Store

SCORE_COLUMNS = ["item_id", "annotator", "rubric", "criterion", "score", "label"]


def run_judgment_scores(store: Store, dataset: str) -> pd.DataFrame:
    """Parsed pointwise judgments of run samples that are rated items of ``dataset``, in
    ``SCORE_COLUMNS`` (``annotator`` is the judge model), latest verdict last."""
    query = (
        sa.select(
            RatedItem.id,
            Judgment.judge,
            Judgment.rubric,
            Judgment.criterion,
            Judgment.score,
            Judgment.label,
        )  # fmt: skip
        .join(
            Judgment,
            (Judgment.run_id == RatedItem.run_id)
            & (Judgment.task == RatedItem.task)
            & (Judgment.idx == RatedItem.sample_idx),
        )
        .where(RatedItem.dataset == dataset, Judgment.parsed.is_(True))
        .where(Judgment.other_run_id.is_(None))
        .order_by(Judgment.id)
    )
    with store.session() as s:
        rows = s.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=SCORE_COLUMNS)


def measure(store: Store, dataset: str, *, n_boot: int = 1000, seed: int = 0) -> list[Agreement]:
    """Item-level agreement of every judge of ``dataset``'s rated run samples with the mean
    human score of each item, per (judge, rubric, criterion) with numeric scores."""
    judged = run_judgment_scores(store, dataset)
    return agreements(judged, ratings(store, dataset=dataset, kind="human"), dataset, n_boot, seed)


def agreements(
    judged: pd.DataFrame, humans: pd.DataFrame, dataset: str, n_boot: int = 1000, seed: int = 0
) -> list[Agreement]:
    """Per (judge, rubric, criterion) of ``judged`` (``SCORE_COLUMNS``, latest score last), the
    item-level agreement of its numeric scores with the human mean per item, as stored."""
    found: list[Agreement] = []
    if judged.empty or humans.empty:
        return found
    for (judge, rubric, criterion), block in judged.groupby(["annotator", "rubric", "criterion"]):
        side = humans[(humans["rubric"] == rubric) & (humans["criterion"] == criterion)]
        human = side.groupby("item_id")["score"].mean().dropna()
        scores = block.groupby("item_id")["score"].last().dropna()
        shared = human.index.intersection(scores.index)
        if len(shared) == 0:
            continue
        stats = item_level(scores[shared].to_numpy(), human[shared].to_numpy(), n_boot, seed)
        for name in STORED:
            if name in stats:
                s = stats[name]
                found.append(
                    Agreement(judge, rubric, criterion, dataset, name, _finite(s["value"]),
                              _finite(s["ci_low"]), _finite(s["ci_high"]), int(s["n"]))
                )  # fmt: skip
    return found


def _finite(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)  # NaN: undefined
