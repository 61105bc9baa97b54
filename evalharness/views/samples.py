"""Samples data: one run's samples, filtered and searched, and everything shown of one sample."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import and_, select, tuple_

from evalharness.store import Sample, Store


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def haystack(sample: Sample) -> str:
    """The text a search looks in: input, prompt, output, reference, error (lower case)."""
    parts = (sample.input, sample.prompt, sample.output, sample.reference, sample.error)
    return "\n".join(_text(p) for p in parts).lower()


def score_names(samples: Sequence[Sample]) -> list[str]:
    names: dict[str, None] = {}
    for s in samples:
        names.update(dict.fromkeys(s.scores or {}))
    return list(names)


@dataclass
class SampleView:
    """Everything the Samples page shows of one sample; strings are shown as literal text."""

    id: int
    run_id: str
    task: str
    idx: int
    input: dict[str, Any]
    prompt: str
    output: str | None
    reference: Any
    scores: dict[str, float]
    error: str | None
    latency_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    judgments: pd.DataFrame = field(default_factory=pd.DataFrame)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["judgments"] = self.judgments.to_dict("records")
        return out


def sample_view(sample: Sample, judgments: pd.DataFrame | None = None) -> SampleView:
    return SampleView(
        id=sample.id, run_id=sample.run_id, task=sample.task, idx=sample.idx,
        input=dict(sample.input or {}), prompt=sample.prompt, output=sample.output,
        reference=sample.reference, scores=dict(sample.scores or {}), error=sample.error,
        latency_s=sample.latency_s, prompt_tokens=sample.prompt_tokens,
        completion_tokens=sample.completion_tokens,
        retrieved=list((sample.result or {}).get("retrieved") or []),
        judgments=judgments if judgments is not None else pd.DataFrame(),
    )  # fmt: skip


def preview(text: Any, width: int = 80) -> str:
    flat = " ".join(_text(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def filter_samples(
    samples: Sequence[Sample],
    *,
    task: str | None = None,
    search: str = "",
    metric: str | None = None,
    score_range: tuple[float, float] | None = None,
    failed_only: bool = False,
    only_ids: set[int] | None = None,
) -> list[Sample]:
    """Samples matching every filter; ``search`` is case-insensitive over the sample's texts.

    ``score_range`` keeps samples whose ``metric`` lies in [low, high] (samples without the
    metric are dropped when a range is given); ``only_ids`` (e.g. judge disagreements) keeps
    those sample ids.
    """
    needle = search.strip().lower()
    out = []
    for s in samples:
        if task and s.task != task:
            continue
        if failed_only and s.error is None:
            continue
        if only_ids is not None and s.id not in only_ids:
            continue
        if metric and score_range is not None:
            value = (s.scores or {}).get(metric)
            if value is None or not score_range[0] <= value <= score_range[1]:
                continue
        if needle and needle not in haystack(s):
            continue
        out.append(s)
    return out


def samples_frame(
    samples: Sequence[Sample],
    judged: pd.DataFrame | None = None,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The samples table: one row per sample with its scores as columns (text is plain text).

    ``names`` fixes the score columns (a page of samples shows the run's, ``Store.score_names``);
    by default they are the scores these samples carry.
    """
    names = score_names(samples) if names is None else list(names)
    rows = []
    for s in samples:
        row: dict[str, Any] = {
            "sample_id": s.id,
            "task": s.task,
            "idx": s.idx,
            "output": preview(s.output),
            "reference": preview(s.reference),
            "failed": s.error is not None,
            "error": preview(s.error),
            "latency_s": s.latency_s,
        }
        row.update({f"score:{n}": (s.scores or {}).get(n) for n in names})
        rows.append(row)
    base = ["sample_id", "task", "idx", "output", "reference", "failed", "error", "latency_s"]
    frame = pd.DataFrame(rows, columns=[*base, *(f"score:{n}" for n in names)])
    if judged is not None and not judged.empty and not frame.empty:
        means = judged.groupby(["sample_id", "criterion"])["score"].mean().unstack()
        means.columns = [f"judge:{c}" for c in means.columns]
        frame = frame.merge(means, left_on="sample_id", right_index=True, how="left")
    return frame


# ----------------------------------------------------------------------------- judgments

JUDGMENT_COLUMNS = [
    "sample_id", "task", "idx", "rubric", "criterion", "judge", "mode", "score", "label",
    "parsed", "rationale", "raw_output",
]  # fmt: skip


def has_judgments(store: Store, run_id: str) -> bool:
    """Whether any pointwise judgment of the run is stored (one indexed lookup)."""
    try:
        from evalharness.judges.records import Judgment
    except ImportError:
        return False
    query = select(Judgment.id).where(Judgment.run_id == run_id, Judgment.other_run_id.is_(None))
    with store.session() as s:
        return s.scalar(query.limit(1)) is not None


def judgments_frame(
    store: Store, run_id: str, *, samples: Sequence[Sample] | None = None
) -> pd.DataFrame:
    """The run's pointwise judgments (every judge, rubric, criterion), keyed by sample id:
    of the given ``samples`` only (a page of them), or of the whole run when None.

    The sample ids come from a join on (run, task, idx) in SQL. Empty when the judges module
    or its table is absent, or nothing was judged.
    """
    try:
        from evalharness.judges.records import Judgment
    except ImportError:
        return pd.DataFrame(columns=JUDGMENT_COLUMNS)
    if samples is not None and not samples:
        return pd.DataFrame(columns=JUDGMENT_COLUMNS)
    same = and_(
        Sample.run_id == Judgment.run_id, Sample.task == Judgment.task, Sample.idx == Judgment.idx
    )
    query = (
        select(Judgment, Sample.id)
        .outerjoin(Sample, same)
        .where(Judgment.run_id == run_id, Judgment.other_run_id.is_(None))
        .order_by(Judgment.task, Judgment.idx, Judgment.id)
    )
    if samples is not None:
        query = query.where(
            tuple_(Judgment.task, Judgment.idx).in_({(x.task, x.idx) for x in samples})
        )
    with store.session() as s:
        found = s.execute(query).all()
    rows = [
        {
            "sample_id": sample_id, "task": j.task, "idx": j.idx,
            "rubric": j.rubric, "criterion": j.criterion, "judge": j.judge, "mode": j.mode,
            "score": j.score, "label": j.label, "parsed": j.parsed, "rationale": j.rationale,
            "raw_output": j.raw_output,
        }
        for j, sample_id in found
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=JUDGMENT_COLUMNS)
    frame["score"] = frame["score"].astype(float)
    return frame


def human_scores(store: Store, run_id: str) -> pd.DataFrame:
    """Latest human ratings of this run's samples: task, idx, rubric, criterion, score, label."""
    columns = ["task", "idx", "rubric", "criterion", "annotator", "score", "label"]
    try:
        from evalharness.ratings.records import RatedItem, ratings
    except ImportError:
        return pd.DataFrame(columns=columns)
    with store.session() as s:
        query = select(RatedItem.id, RatedItem.task, RatedItem.sample_idx).where(
            RatedItem.run_id == run_id
        )
        where = {item: (task, idx) for item, task, idx in s.execute(query).all()}
    if not where:
        return pd.DataFrame(columns=columns)
    rated = ratings(store, kind="human")
    rated = rated[rated["item_id"].isin(where)]
    keys = rated["item_id"].map(where)
    return pd.DataFrame(
        {
            "task": [k[0] for k in keys], "idx": [k[1] for k in keys],
            "rubric": rated["rubric"].to_list(), "criterion": rated["criterion"].to_list(),
            "annotator": rated["annotator"].to_list(), "score": rated["score"].to_list(),
            "label": rated["label"].to_list(),
        },
        columns=columns,
    )  # fmt: skip


def disagreements(
    judged: pd.DataFrame, humans: pd.DataFrame | None = None, *, threshold: float = 1.0
) -> set[int]:
    """Sample ids where judges disagree on a criterion (scores ``threshold`` or more apart, or
    different labels), or where the judges' mean is ``threshold`` or more from the humans'."""
    found: set[int] = set()
    if judged.empty:
        return found
    parsed = judged[judged["parsed"].astype(bool) & judged["sample_id"].notna()]
    for (sample_id, _, _), group in parsed.groupby(["sample_id", "rubric", "criterion"]):
        scores, labels = group["score"].dropna(), group["label"].dropna()
        spread = scores.max() - scores.min() if len(scores) > 1 else 0.0
        if spread >= threshold or (scores.empty and labels.nunique() > 1):
            found.add(int(sample_id))
    if humans is not None and not humans.empty:
        keys = ["task", "idx", "rubric", "criterion"]
        judge_mean = parsed.groupby([*keys, "sample_id"])["score"].mean().reset_index()
        human_mean = humans.groupby(keys)["score"].mean().rename("human").reset_index()
        both = judge_mean.merge(human_mean, on=keys).dropna(subset=["score", "human"])
        far = both[(both["score"] - both["human"]).abs() >= threshold]
        found.update(int(i) for i in far["sample_id"])
    return found
