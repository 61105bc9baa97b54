"""A team's judge model on an imported rated set: judge its items, store the verdicts as ratings.

``calibrate --dataset summeval --judge-model SPEC --rubric summeval`` judges the set's items that
carry texts (a source and a response: SummEval's summaries) with the model, in batches, and
stores each parsed score as a rating by an annotator of kind ``judge`` named after the model;
where the backend gives score distributions (transformers), the expected score (G-Eval) is
stored too, as the annotator ``<model>:expected``. Items the model already rated under the
rubric are not judged again, so an interrupted calibration resumes. The meta-evaluation tables
then treat the model like any published judge.
"""

from __future__ import annotations

from dataclasses import dataclass

from evalharness.errors import DataError
from evalharness.judges.distribution import summary as distribution_summary
from evalharness.judges.judge import Judge
from evalharness.judges.render import Subject
from evalharness.judges.rubric import Rubric
from evalharness.judges.verdict import Verdict
from evalharness.models.base import Model
from evalharness.ratings.records import NewRating, ensure_annotator, items, ratings
from evalharness.store import Store

CHUNK = 32  # items per judge call: one batch, stored before the next


@dataclass(frozen=True)
class JudgedItems:
    judge: str
    annotators: tuple[str, ...]  # the argmax/verdict score, and the expected score if any
    judged: int  # items judged by this call
    unparsed: int
    skipped: int  # already rated by this judge under the rubric


def select_items(store: Store, dataset: str, *, n_items: int | None, n_groups: int | None):
    """The set's items with a response (source documents in order), cut to the first
    ``n_groups`` groups (documents) and then to the first ``n_items`` items."""
    frame = items(store, dataset)
    frame = frame[frame["response"].notna() & frame["response_b"].isna()]
    if frame.empty:
        raise DataError(f"dataset {dataset!r} has no items with a response for a judge to rate")
    frame = frame.assign(group=frame["group_id"].fillna("")).sort_values(["group", "id"])
    if n_groups is not None:
        frame = frame[frame["group"].isin(sorted(frame["group"].unique())[:n_groups])]
    return frame.head(n_items) if n_items is not None else frame


def _subject(row) -> Subject:  # noqa: ANN001 - a pandas row
    refs = row["reference"] if isinstance(row["reference"], list) else [row["reference"]]
    reference = next((str(r) for r in refs if r is not None and str(r).strip()), None)
    return Subject(source=row["source"] or "", output=row["response"], reference=reference)


def _ratings(verdict: Verdict, item_id: str, rubric: Rubric, name: str) -> list[NewRating]:
    out = []
    for c in rubric.criteria:
        result = verdict.results.get(c.name) if verdict.results else None
        if result is None or result.score is None:
            continue
        out.append(NewRating(name, item_id, rubric.name, c.name, score=float(result.score)))
        distribution = (verdict.distributions or {}).get(c.name)
        if distribution and c.kind == "score":
            expected = distribution_summary(distribution)["expected"]
            out.append(NewRating(f"{name}:expected", item_id, rubric.name, c.name, expected))
    return out


def judge_items(
    store: Store,
    dataset: str,
    rubric: Rubric,
    model: Model,
    *,
    n_items: int | None = None,
    n_groups: int | None = None,
) -> JudgedItems:
    """Judge the selected items not yet rated by ``model`` under ``rubric`` and store the
    parsed scores as its ratings (see the module docstring)."""
    from evalharness.ratings.records import add_ratings

    if rubric.mode != "pointwise":
        raise DataError(f"calibrate --judge-model: rubric {rubric.name!r} is not pointwise")
    chosen = select_items(store, dataset, n_items=n_items, n_groups=n_groups)
    done = set(ratings(store, dataset=dataset, rubric=rubric.name, annotators=[model.name])
               ["item_id"])  # fmt: skip
    pending = chosen[~chosen["id"].isin(done)]
    names = (model.name, f"{model.name}:expected")
    for name in names:
        ensure_annotator(store, name, kind="judge")
    judge, unparsed = Judge(model, rubric), 0
    for start in range(0, len(pending), CHUNK):
        rows = pending.iloc[start : start + CHUNK]
        verdicts = judge.judge([_subject(r) for _, r in rows.iterrows()])
        unparsed += sum(not v.parsed for v in verdicts)
        new = [x for v, item_id in zip(verdicts, rows["id"], strict=True)
               for x in _ratings(v, item_id, rubric, model.name)]  # fmt: skip
        if new:
            add_ratings(store, new)
    return JudgedItems(model.name, names, len(pending), unparsed, len(chosen) - len(pending))
