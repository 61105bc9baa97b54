"""Judge-vs-human tables: the hook through which any judge's scores meet the human ratings.

``judge_tables`` takes judge scores either from the store (ratings by annotators of kind
``judge``) or as a DataFrame ``judge_scores`` with columns ``annotator``, ``item_id``,
``criterion``, ``score`` or ``label`` (and optionally ``rubric``) -- e.g. the embedded model's
scores from the judges module -- and computes, against the human ratings of the same items and
criteria: agreement at item level (and summary / system level where items share documents /
systems) plus out-of-fold isotonic calibration for numeric scores; 3-way accuracy (ties
explicit) and Cohen's kappa against the human majority for pairwise labels. ``Table`` is the
long-format result every meta-evaluation table uses (one entry per row x column x statistic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalharness.meta import pairwise
from evalharness.meta.agreement import agreement
from evalharness.meta.calibration import calibrate as calibrate_scores
from evalharness.meta.statistics import Stat
from evalharness.ratings.records import items, ratings
from evalharness.store import Store


@dataclass
class Table:
    title: str
    level: str  # item | summary | system | pairwise | inter-annotator | calibration
    entries: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def add(self, row: str, column: str, stats: dict[str, Stat], names: Any = None) -> None:
        for name in names or stats:
            if name in stats:
                self.entries.append(
                    {"row": row, "column": column, "statistic": name, **stats[name]}
                )

    def get(self, row: str, column: str, statistic: str) -> dict[str, Any]:
        for e in self.entries:
            if (e["row"], e["column"], e["statistic"]) == (row, column, statistic):
                return e
        raise KeyError((row, column, statistic))


def kept_items(store: Store, dataset: str, limit: int | None) -> set[str] | None:
    """Ids of the items in the first ``limit`` groups (sorted group ids); None = all."""
    if limit is None:
        return None
    meta = items(store, dataset)
    groups = sorted(meta["group_id"].fillna("").unique())[:limit]
    return set(meta.loc[meta["group_id"].fillna("").isin(groups), "id"])


def scoped_ratings(store: Store, dataset: str, limit: int | None, **filters: Any) -> Any:
    frame = ratings(store, dataset=dataset, **filters)
    keep = kept_items(store, dataset, limit)
    return frame if keep is None else frame[frame["item_id"].isin(keep)]


def judge_tables(
    store: Store,
    dataset: str,
    *,
    rubric: str | None = None,
    judges: Any = None,
    judge_scores: Any = None,
    exclude: Any = (),
    n_boot: int = 1000,
    seed: int = 0,
    limit: int | None = None,
) -> list[Table]:
    """Judge-vs-human tables for every (judge, judge rubric, criterion) on ``dataset``.

    Judge scores: ``judge_scores`` (a DataFrame, see the module docstring) or the store's
    ratings by annotators of kind ``judge`` (only ``judges`` if given, never ``exclude``).
    Human side: the mean of the human annotators' scores per item and criterion (``rubric``
    restricts both sides), or, for labels, their majority label. Numeric scores give item-level
    agreement (summary / system level too where items share groups / systems), and out-of-fold
    isotonic calibration; labels give 3-way accuracy (ties explicit) and Cohen's kappa.
    """
    humans = scoped_ratings(store, dataset, limit, rubric=rubric, kind="human")
    judged = judge_side(store, dataset, limit, rubric, judges, judge_scores, exclude)
    if judged.empty or humans.empty:
        return []
    meta = items(store, dataset).set_index("id")
    numeric, calib, labels = empty_tables(dataset)
    for (annotator, judge_rubric, criterion), block in judged.groupby(
        ["annotator", "rubric", "criterion"]
    ):
        side = humans[humans["criterion"] == criterion]
        if side.empty:
            continue
        row = f"{annotator} [{judge_rubric}]"
        if side["label"].isna().all():  # numeric human scores; unparseable judge rows drop
            add_numeric(numeric, calib, row, criterion, block, side, meta, n_boot, seed)
        else:
            add_labels(labels, row, criterion, block, side, n_boot, seed)
    return [t for t in (numeric, calib, labels) if t.entries]


def judge_side(
    store: Store,
    dataset: str,
    limit: int | None,
    rubric: str | None,
    judges: Any,
    judge_scores: Any,
    exclude: Any,
) -> Any:
    """The judges' ratings: ``judge_scores`` with its optional columns filled, or the store's
    ratings by annotators of kind ``judge`` (only ``judges`` if given); never ``exclude``."""
    if judge_scores is None:
        judged = scoped_ratings(store, dataset, limit, rubric=rubric, kind="judge")
        if judges is not None:
            judged = judged[judged["annotator"].isin(list(judges))]
    else:
        judged = judge_scores.copy()
        for column, default in (("rubric", "judge"), ("label", None), ("score", math.nan)):
            if column not in judged:
                judged[column] = default
    return judged[~judged["annotator"].isin(list(exclude))]


def empty_tables(dataset: str) -> tuple[Table, Table, Table]:
    """The numeric (agreement), calibration and label tables of ``dataset``, still empty."""
    numeric = Table(f"{dataset}: judges vs humans (item level unless stated)", "item")
    calib = Table(
        f"{dataset}: judges after isotonic calibration (5-fold, out of fold)",
        "calibration",
        note="mae_baseline: predicting the training folds' mean",
    )
    labels = Table(
        f"{dataset}: judge verdicts vs human majority",
        "pairwise",
        note="3-way accuracy, ties explicit; unparseable = wrong; CI: items",
    )
    return numeric, calib, labels


def add_numeric(
    numeric: Table,
    calib: Table,
    row: str,
    criterion: str,
    block: Any,
    side: Any,
    meta: Any,
    n_boot: int,
    seed: int,
) -> None:
    """One judge's numeric scores of ``criterion`` against the human mean per item: agreement
    (summary / system level too where items share groups / systems) and, from 10 scored items,
    out-of-fold isotonic calibration."""
    judge = block.groupby("item_id")["score"].last().dropna()
    human = side.groupby("item_id")["score"].mean()
    human = human.loc[human.index.intersection(judge.index)]
    judge = judge.reindex(human.index)
    info = meta.loc[human.index]
    groups = info["group_id"] if info["group_id"].duplicated().any() else None
    n_sys = info["system_id"].nunique()
    systems = info["system_id"] if n_sys >= 3 and n_sys < len(info) else None
    result = agreement(judge.to_numpy(), human.to_numpy(), groups, systems, n_boot, seed)
    for level, stats in result.items():
        numeric.add(row, criterion if level == "item" else f"{criterion} ({level})", stats)
    if judge.notna().sum() >= 10:
        folds_by = groups if groups is not None and groups.nunique() >= 5 else None
        cal = calibrate_scores(
            judge.to_numpy(), human.to_numpy(), groups=folds_by, n_boot=n_boot, seed=seed
        )
        calib.add(
            row,
            criterion,
            {
                **cal["agreement"]["item"],
                "mae": cal["mae"],
                "mae_baseline": cal["mae_baseline"],
            },
            ("pearson", "spearman", "mae", "mae_baseline"),
        )


def add_labels(
    labels: Table, row: str, criterion: str, block: Any, side: Any, n_boot: int, seed: int
) -> None:
    """One judge's labels of ``criterion`` against the human majority label per item: 3-way
    accuracy (ties explicit) and Cohen's kappa."""
    votes = side.pivot_table(index="item_id", columns="annotator", values="label", aggfunc="last")
    gold = pd_series(pairwise.majority_label(votes.to_numpy(dtype=object).tolist()), votes.index)
    gold = gold.loc[gold.index.intersection(block["item_id"])]
    verdict = block.groupby("item_id")["label"].last().reindex(gold.index)
    stats = pairwise.accuracy(list(verdict), list(gold), n_boot, seed)
    stats["cohen_kappa"] = pairwise.rater_kappa(list(verdict), list(gold), n_boot, seed)
    labels.add(row, criterion, stats)


def pd_series(values: list[Any], index: Any) -> Any:
    import pandas as pd

    return pd.Series(values, index=index, dtype=object)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def format_tables(result: dict[str, Any]) -> list[str]:
    """Plain-text lines: one block per table, one line per statistic with its 95% CI."""
    lines: list[str] = []
    for table in result["tables"]:
        lines += ["", table["title"]]
        if table.get("note"):
            lines.append(f"  ({table['note']})")
        width = max(len(e["row"]) for e in table["entries"])
        cwidth = max(len(e["column"]) for e in table["entries"])
        header = f"  {'':<{width}}  {'':<{cwidth}}  {'statistic':<22} {'value':>8}  95% CI"
        lines += [header.rstrip() + f"{'n':>18}", "  " + "-" * (len(header) + 16)]
        for e in table["entries"]:
            value = "nan" if e["value"] is None else f"{e['value']:.3f}"
            low = "nan" if e["ci_low"] is None else f"{e['ci_low']:.3f}"
            high = "nan" if e["ci_high"] is None else f"{e['ci_high']:.3f}"
            lines.append(
                f"  {e['row']:<{width}}  {e['column']:<{cwidth}}  "
                f"{e['statistic']:<22} {value:>8}  [{low}, {high}]{e['n']:>8}"
            )
    return lines
