"""Calibration data: judge vs human on the same items and criteria, from the meta module.

Human side: the latest ratings of annotators of kind ``human`` (their mean per item, or their
majority label). Judge side: ratings by annotators of kind ``judge`` (published judges, imported)
and the ``judgments`` table's pointwise verdicts on run samples that humans rated (an item that
points to ``run_id``/``task``/``sample_idx``), matched by rubric and criterion. Every statistic
comes from ``evalharness.meta`` with its 95% bootstrap CI.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from evalharness.judges.records import JudgeBias, Judgment
from evalharness.meta import agreement
from evalharness.meta.agreement import inter_annotator
from evalharness.meta.bias import (
    length_preference,
    position_bias,
    self_preference,
    verbosity_bias,
)
from evalharness.meta.calibration import confusion, fit_isotonic
from evalharness.meta.own_judges import run_judgment_scores
from evalharness.meta.pairwise import accuracy, majority_label, rater_kappa
from evalharness.ratings.records import Annotator, HumanRating, RatedItem, items, ratings
from evalharness.store import Store

# What the page reads; rows are only added to them, so ``ui.row_marks`` keys its results.
TABLES = (HumanRating, Annotator, RatedItem, Judgment, JudgeBias)
PAIR_COLUMNS = [
    "item_id", "judge", "judge_score", "judge_label", "human_score", "human_label", "n_humans",
    "group_id", "system_id", "response_length", "response_b_length",
]  # fmt: skip
STAT_COLUMNS = ["judge", "level", "statistic", "value", "ci_low", "ci_high", "n"]


def human_sets(store: Store) -> pd.DataFrame:
    """(dataset, rubric, criterion, items, annotators) that carry human ratings."""
    humans = ratings(store, kind="human")
    if humans.empty:
        return pd.DataFrame(columns=["dataset", "rubric", "criterion", "items", "annotators"])
    grouped = humans.groupby(["dataset", "rubric", "criterion"])
    return grouped.agg(
        items=("item_id", "nunique"), annotators=("annotator", "nunique")
    ).reset_index()


def _run_judgments(store: Store, dataset: str, rubric: str, criterion: str) -> pd.DataFrame:
    """Pointwise judgments of run samples that are rated items of ``dataset``."""
    frame = run_judgment_scores(store, dataset)
    keep = (frame["rubric"] == rubric) & (frame["criterion"] == criterion)
    return frame.loc[keep, ["item_id", "annotator", "score", "label"]]


def pairs(store: Store, dataset: str, rubric: str, criterion: str) -> pd.DataFrame:
    """One row per judge × item rated by humans: judge score/label beside the humans'."""
    humans = ratings(store, dataset=dataset, rubric=rubric, criterion=criterion, kind="human")
    if humans.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    published = ratings(store, dataset=dataset, criterion=criterion, kind="judge")
    judged = pd.concat(
        [
            published[["item_id", "annotator", "score", "label"]],
            _run_judgments(store, dataset, rubric, criterion),
        ],
        ignore_index=True,
    )
    if judged.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    judged = judged.groupby(["annotator", "item_id"]).last().reset_index()
    side = humans.groupby("item_id").agg(
        human_score=("score", "mean"), n_humans=("annotator", "nunique")
    )
    votes = humans.groupby("item_id")["label"].apply(lambda v: [x for x in v if x is not None])
    side["human_label"] = [
        majority_label([v])[0] if v else None for v in votes.reindex(side.index, fill_value=[])
    ]
    meta = items(store, dataset).set_index("id")
    frame = judged.merge(side, left_on="item_id", right_index=True)
    info = meta.reindex(frame["item_id"])
    frame = frame.assign(
        judge=frame["annotator"],
        judge_score=frame["score"].astype(float),
        judge_label=frame["label"],
        group_id=info["group_id"].to_numpy(),
        system_id=info["system_id"].to_numpy(),
        response_length=_words(info["response"]),
        response_b_length=_words(info["response_b"]),
    )
    return frame[PAIR_COLUMNS].reset_index(drop=True)


def _words(texts: pd.Series) -> list[float]:
    return [len(t.split()) if isinstance(t, str) else math.nan for t in texts]


def _rows(judge: str, level: str, stats: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "judge": judge,
            "level": level,
            "statistic": name,
            **{k: s.get(k) for k in STAT_COLUMNS[3:]},
        }
        for name, s in stats.items()
    ]


def is_label_scale(frame: pd.DataFrame) -> bool:
    """Labels (pairwise "1"/"2"/"tie", yes/no): every verdict carries a label. Imported
    pairwise labels also carry scores 1, 2, 0; those are codes, never used as numbers."""
    labelled = frame["judge_label"].notna()
    return bool(labelled.any()) and bool((labelled | frame["judge_score"].isna()).all())


def agreement_table(frame: pd.DataFrame, *, n_boot: int = 1000) -> pd.DataFrame:
    """Per judge: item (and summary / system, where items share groups / systems) agreement."""
    rows: list[dict[str, Any]] = []
    for judge, block in frame.groupby("judge"):
        if is_label_scale(block):
            stats = accuracy(list(block["judge_label"]), list(block["human_label"]), n_boot)
            stats["cohen_kappa"] = rater_kappa(
                list(block["judge_label"]), list(block["human_label"]), n_boot
            )
            rows += _rows(str(judge), "item", stats)
            continue
        groups = block["group_id"] if block["group_id"].duplicated().any() else None
        n_sys = block["system_id"].nunique()
        systems = block["system_id"] if 3 <= n_sys < len(block) else None
        result = agreement(
            block["judge_score"].to_numpy(), block["human_score"].to_numpy(),
            None if groups is None else groups.to_numpy(),
            None if systems is None else systems.to_numpy(), n_boot,
        )  # fmt: skip
        for level, stats in result.items():
            rows += _rows(str(judge), level, stats)
    return pd.DataFrame(rows, columns=STAT_COLUMNS)


def judge_agreement(
    store: Store, dataset: str, rubric: str, criterion: str, *, n_boot: int = 1000
) -> pd.DataFrame:
    """``agreement_table`` of the judges of ``pairs``."""
    return agreement_table(pairs(store, dataset, rubric, criterion), n_boot=n_boot)


def ceiling_table(
    store: Store, dataset: str, rubric: str, criterion: str, *, n_boot: int = 1000
) -> pd.DataFrame:
    """Human-human agreement (the ceiling for a judge); empty unless two humans share items."""
    humans = ratings(store, dataset=dataset, rubric=rubric, criterion=criterion, kind="human")
    value = "label" if humans["score"].isna().all() else "score"
    table = humans.pivot_table(index="item_id", columns="annotator", values=value, aggfunc="last")
    if table.shape[1] < 2 or (table.notna().sum(axis=1) >= 2).sum() < 2:
        return pd.DataFrame(columns=STAT_COLUMNS)
    return pd.DataFrame(_rows("humans", "item", inter_annotator(table, n_boot=n_boot)))


def confusion_table(frame: pd.DataFrame, judge: str) -> pd.DataFrame:
    """Counts of (human, judge) levels: human mean rounded to the scale, or labels."""
    block = frame[frame["judge"] == judge]
    if is_label_scale(block):
        return confusion(list(block["judge_label"]), list(block["human_label"]))

    def level(v: float) -> int | None:  # half-way means round up
        return None if math.isnan(v) else math.floor(v + 0.5)

    return confusion(
        [level(v) for v in block["judge_score"]], [level(v) for v in block["human_score"]]
    )


def calibration_curve(frame: pd.DataFrame, judge: str) -> pd.DataFrame:
    """Mean human score at each judge score (95% CI, n) and the isotonic fit of human on judge."""
    block = frame[frame["judge"] == judge].dropna(subset=["judge_score", "human_score"])
    columns = ["judge_score", "human_mean", "ci_low", "ci_high", "n", "isotonic"]
    if block.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for score, group in block.groupby("judge_score"):
        h = group["human_score"].to_numpy(dtype=float)
        half = 1.96 * h.std(ddof=1) / math.sqrt(len(h)) if len(h) > 1 else math.nan
        rows.append((float(score), h.mean(), h.mean() - half, h.mean() + half, len(h)))
    curve = pd.DataFrame(rows, columns=columns[:-1])
    if block["judge_score"].nunique() >= 2:
        model = fit_isotonic(block["judge_score"].to_list(), block["human_score"].to_list())
        curve["isotonic"] = model.predict(curve["judge_score"].to_numpy())
    else:
        curve["isotonic"] = np.nan
    return curve


def bias_table(
    frame: pd.DataFrame, judge: str, *, own_system: str | None = None, n_boot: int = 1000
) -> pd.DataFrame:
    """Verbosity bias (3+ items; pairwise items: how often the longer response wins, against
    the humans) and, given the judge's own system, self-preference."""
    rows: list[dict[str, Any]] = []
    everything = frame[frame["judge"] == judge]
    if everything["response_b_length"].notna().sum() >= 3:  # pairwise verdicts
        pair = everything.dropna(subset=["response_length", "response_b_length"])
        verdicts = pair["judge_label"].where(pair["judge_label"].notna(), pair["judge_score"])
        gold = pair["human_label"].where(pair["human_label"].notna(), pair["human_score"])
        stats = length_preference(
            list(verdicts), list(pair["response_length"]), list(pair["response_b_length"]),
            list(gold), n_boot,
        )  # fmt: skip
        return pd.DataFrame(_rows(judge, "verbosity (pairwise)", stats), columns=STAT_COLUMNS)
    if is_label_scale(everything):  # labels are not numbers: no correlation with length
        return pd.DataFrame(columns=STAT_COLUMNS)
    block = everything.dropna(subset=["judge_score", "human_score"])
    if len(block) >= 3 and block["response_length"].notna().sum() >= 3:
        stats = verbosity_bias(
            block["judge_score"], block["human_score"], block["response_length"], n_boot
        )
        rows += _rows(judge, "verbosity", stats)
    if own_system is not None and (block["system_id"] == own_system).any():
        stats = self_preference(
            block["judge_score"], block["human_score"], block["system_id"], own_system,
            standardize=True, n_boot=n_boot,
        )  # fmt: skip
        rows += _rows(judge, "self-preference", stats)
    return pd.DataFrame(rows, columns=STAT_COLUMNS)


def judge_bias(
    store: Store, dataset: str, rubric: str, criterion: str, judge: str, **options: Any
) -> pd.DataFrame:
    """``bias_table`` of one judge of ``pairs``."""
    return bias_table(pairs(store, dataset, rubric, criterion), judge, **options)


def position_table(store: Store, rubric: str, *, n_boot: int = 1000) -> pd.DataFrame:
    """Position bias of each judge from stored pairwise judgments in both orders (AB and BA)."""
    from evalharness.judges.probes import pair_orders

    query = select(Judgment).where(Judgment.rubric == rubric, Judgment.order.is_not(None))
    with store.session() as s:
        rows = list(s.scalars(query))
    out: list[dict[str, Any]] = []
    for (judge, criterion), (ab, ba) in pair_orders(rows).items():
        out += _rows(f"{judge} · {criterion}", "position", position_bias(ab, ba, n_boot=n_boot))
    return pd.DataFrame(out, columns=STAT_COLUMNS)


def probe_table(store: Store, rubric: str) -> pd.DataFrame:
    """The bias probes ``evalharness bias`` stored for ``rubric``, newest first."""
    from evalharness.judges.probes import stored_probes

    columns = ["judge", "criterion", "probe", "statistic", "value", "ci_low", "ci_high", "n",
               "run_id", "task"]  # fmt: skip
    rows = [{c: getattr(p, c) for c in columns} for p in stored_probes(store, rubric)]
    return pd.DataFrame(rows, columns=columns)


def ppi_table(store: Store, dataset: str, rubric: str, criterion: str) -> pd.DataFrame:
    """Per run whose samples people rated as ``dataset``: the judged mean of ``rubric``'s
    ``criterion`` by PPI beside the people-only and judge-only means (95% CIs)."""
    from evalharness.meta.tables import rated_runs_ppi

    def shown(stat: dict[str, Any]) -> str:
        return f"{stat['value']:.3f} [{stat['ci_low']:.3f}, {stat['ci_high']:.3f}]"

    metric = f"judge:{rubric}.{criterion}"
    rows = [
        {"run": p["run_id"], "task": p["task"], "PPI": shown(p["ppi"]),
         "people only": shown(p["human_only"]), "judge only": shown(p["judge_only"]),
         "rated": f"{p['rated']} of {p['judged']}"}
        for p in rated_runs_ppi(store, dataset) if p["metric"] == metric
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["run", "task", "PPI", "people only", "judge only", "rated"])
