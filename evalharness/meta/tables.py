"""The standard meta-evaluation tables, computed from the store, every number with a 95% CI.

``calibrate(store, dataset)`` imports the dataset if the store lacks it, then returns its
standard tables (``DATASET_TABLES``) plus ``judge_tables`` for any other judge in the store:

- summeval: summary-level Spearman / Kendall (and system-level Kendall / Pearson) of ROUGE-1/2/L
  (the project's metrics, F-measure, max over the 11 references) with the 4 expert dimensions;
- unieval-meta: item-level Pearson / Spearman / Kendall of the UniEval judge with the humans on
  Topical-Chat, QAGS-CNNDM/XSum and SF-RES/SF-HOT (plus isotonic calibration, out of fold);
- realsumm: summary- and system-level correlation of ROUGE-1/2/L with LitePyramid recall;
- wmt-mqm-ted-ende: system-level Pearson / Kendall of corpus BLEU / chrF with expert MQM (as
  -penalty, so higher is better; the human reference "system" is left out), segments resampled;
- llmbar-pairwise: accuracy (both orders) and position consistency of each released judge and
  prompting strategy on each subset;
- pandalm-testset: inter-annotator Cohen's kappa (each pair, mean) and Krippendorff's alpha of
  the 3 humans, and each judge's 3-way accuracy and kappa against the human majority.

**Hook for new judges** (e.g. the embedded model through the judges module):
``judge_tables.judge_tables(store, dataset, rubric=..., judge_scores=frame)`` computes the same
item / summary / system tables for any judge's scores (see ``meta/judge_tables.py``); judges
whose scores are stored as ratings of kind ``judge`` appear in ``calibrate`` automatically, and
so do the ``judgments`` of run samples that people rated (``meta/own_judges.py``): their
item-level agreement is stored (``ratings/agreement.py``) for gates and reports.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import sqlalchemy as sa

from evalharness.meta import pairwise
from evalharness.meta.agreement import summary_level, system_level
from evalharness.meta.judge_tables import Table, jsonable, judge_tables, scoped_ratings
from evalharness.meta.metric_scores import metric_scores, system_corpus_scores
from evalharness.meta.own_judges import agreements, measure, run_judgment_scores
from evalharness.meta.statistics import BATCH_CORRELATIONS, CORRELATION_FNS, ci
from evalharness.meta.statistics import percentile_interval as interval
from evalharness.models.base import Model
from evalharness.ratings.agreement import Agreement, store_agreement
from evalharness.ratings.ppi import run_ppi
from evalharness.ratings.records import RatedItem, datasets, items, ratings
from evalharness.store import Store

ROUGE = ("rouge1", "rouge2", "rougeLsum")  # rougeLsum: ROUGE-1.5.5's summary-level ROUGE-L
SUMMEVAL_CRITERIA = ("coherence", "consistency", "fluency", "relevance")
PUBLISHED_JUDGES = {
    "unieval-meta": ("unieval",),
    "llmbar-pairwise": ("gpt-4", "chatgpt", "llama2", "palm2"),
    "pandalm-testset": ("gpt-3.5-turbo", "pandalm-7b"),
}


def _human_scores(store: Store, dataset: str, rubric: str, limit: int | None) -> Any:
    """Mean human score per (item, criterion): a DataFrame indexed by item id."""
    frame = scoped_ratings(store, dataset, limit, rubric=rubric, kind="human")
    return frame.pivot_table(index="item_id", columns="criterion", values="score")


def summeval_tables(
    store: Store, n_boot: int = 1000, seed: int = 0, limit: int | None = None
) -> list[Table]:
    human = _human_scores(store, "summeval", "summeval", limit)
    meta = items(store, "summeval").set_index("id").loc[human.index]
    scores = metric_scores(store, "summeval", ROUGE, human.index, progress=True)
    summary = Table(
        "SummEval: summary-level correlation of ROUGE (11 references) with experts",
        "summary",
        note="per document over its 16 systems, averaged; CI: documents",
    )
    system = Table(
        "SummEval: system-level correlation of ROUGE with experts (16 systems)",
        "system",
        note="CI: documents resampled",
    )
    for metric in ROUGE:
        for criterion in SUMMEVAL_CRITERIA:
            args = (scores[metric].to_numpy(), human[criterion].to_numpy())
            summary.add(
                metric,
                criterion,
                summary_level(*args, meta["group_id"], n_boot, seed),
                ("spearman", "kendall"),
            )
            system.add(
                metric,
                criterion,
                system_level(*args, meta["system_id"], meta["group_id"], n_boot, seed),
                ("kendall", "pearson"),
            )
    return [summary, system]


def realsumm_tables(
    store: Store, n_boot: int = 1000, seed: int = 0, limit: int | None = None
) -> list[Table]:
    human = _human_scores(store, "realsumm", "realsumm", limit)["litepyramid_recall"]
    meta = items(store, "realsumm").set_index("id").loc[human.index]
    scores = metric_scores(store, "realsumm", ROUGE, human.index, progress=True)
    summary = Table(
        "REALSumm: correlation of ROUGE (1 reference) with LitePyramid recall",
        "summary",
        note="summary level: per document over 25 systems; CI: documents",
    )
    authors = {  # the REALSumm authors' pyrouge scores, released with the data: a cross-check
        f"pyrouge {key}": meta["extra"].map(lambda e, k=key: e.get("metric_scores", {}).get(k))
        for key in ("rouge_1_f_score", "rouge_2_f_score", "rouge_l_f_score")
    }
    columns = {m: scores[m] for m in ROUGE} | authors
    for metric, values in columns.items():
        args = (values.to_numpy(dtype=float), human.to_numpy())
        summary.add(
            metric,
            "summary",
            summary_level(*args, meta["group_id"], n_boot, seed),
            ("spearman", "kendall"),
        )
        summary.add(
            metric,
            "system",
            system_level(*args, meta["system_id"], meta["group_id"], n_boot, seed),
            ("pearson", "kendall"),
        )
    return [summary]


def wmt_tables(
    store: Store, n_boot: int = 1000, seed: int = 0, limit: int | None = None
) -> list[Table]:
    human = _human_scores(store, "wmt-mqm-ted-ende", "mqm", limit)
    frame = items(store, "wmt-mqm-ted-ende").set_index("id").loc[human.index].reset_index()
    frame["mqm"] = -human["mqm_penalty"].to_numpy()
    frame = frame[frame["system_id"] != "ref"]
    table = Table(
        "WMT21 TED en-de: system-level correlation of corpus metrics with expert MQM",
        "system",
        note="13 MT systems (reference excluded); MQM as -penalty; "
        "CI: segments resampled, corpus scores recomputed",
    )
    for metric in ("bleu", "chrf"):
        point, mqm, boot, mqm_boot = system_corpus_scores(metric, frame, "mqm", n_boot, seed)
        x, y = np.array(list(point.values())), np.array(list(mqm.values()))
        stats = {}
        for name in ("pearson", "kendall"):
            values = BATCH_CORRELATIONS[name](boot, mqm_boot)
            stats[name] = ci(CORRELATION_FNS[name](x, y), *interval(values), len(x))
        table.add(metric, "mqm", stats)
    return [table]


def llmbar_tables(
    store: Store, n_boot: int = 1000, seed: int = 0, limit: int | None = None
) -> list[Table]:
    frame = scoped_ratings(store, "llmbar-pairwise", limit)
    meta = items(store, "llmbar-pairwise").set_index("id")
    gold = frame[frame["annotator"] == "llmbar-gold"].set_index("item_id")["label"]
    judged = frame[frame["annotator"].isin(PUBLISHED_JUDGES["llmbar-pairwise"])]
    table = Table(
        "LLMBar & co.: released judges' accuracy and position consistency",
        "pairwise",
        note="accuracy over both orders (unparseable = wrong); "
        "consistency: same verdict in both orders; CI: pairs",
    )
    verdicts = judged.pivot_table(
        index=["annotator", "rubric", "item_id"],
        columns="criterion",
        values="label",
        aggfunc="last",
    )
    for (annotator, rubric), block in verdicts.groupby(level=[0, 1]):
        block = block.droplevel([0, 1])
        strategy = rubric.split(":", 1)[-1]
        sets = meta.loc[block.index, "group_id"]
        for subset in [*sorted(sets.unique()), "all"]:
            ids = block.index if subset == "all" else block.index[sets == subset]
            stats = pairwise.both_orders(
                gold.loc[ids],
                block.loc[ids, "preference"],
                block.loc[ids, "preference_swapped"],
                n_boot,
                seed,
            )
            table.add(
                f"{annotator} {strategy}", subset, stats, ("accuracy", "position_consistency")
            )
    return [table]


def pandalm_tables(
    store: Store, n_boot: int = 1000, seed: int = 0, limit: int | None = None
) -> list[Table]:
    humans = scoped_ratings(store, "pandalm-testset", limit, kind="human")
    votes = humans.pivot_table(index="item_id", columns="annotator", values="label", aggfunc="last")
    names = list(votes.columns)
    iaa = pairwise.inter_rater(votes.to_numpy(dtype=object).tolist(), names, n_boot, seed)
    table = Table(
        "PandaLM test set: agreement of the 3 human annotators",
        "inter-annotator",
        note="labels 1 / 2 / tie; CI: items",
    )
    for pair, stat in iaa["pairs"].items():
        table.add(pair, "preference", {"cohen_kappa": stat})
    table.add("mean of pairs", "preference", {"cohen_kappa": iaa["mean_cohen_kappa"]})
    table.add("all 3", "preference", {"krippendorff_alpha": iaa["krippendorff_alpha"]})
    return [
        table,
        *judge_tables(
            store,
            "pandalm-testset",
            judges=PUBLISHED_JUDGES["pandalm-testset"],
            n_boot=n_boot,
            seed=seed,
        ),
    ]


def unieval_tables(
    store: Store,
    n_boot: int = 1000,
    seed: int = 0,
    limit: int | None = None,
    rubric: str | None = None,
) -> list[Table]:
    """UniEval vs humans on every subset (``rubric``: one subset, e.g. ``qags_xsum``)."""
    return judge_tables(
        store,
        "unieval-meta",
        rubric=rubric,
        judges=("unieval",),
        n_boot=n_boot,
        seed=seed,
        limit=limit,
    )


DATASET_TABLES = {
    "summeval": summeval_tables,
    "unieval-meta": unieval_tables,
    "realsumm": realsumm_tables,
    "wmt-mqm-ted-ende": wmt_tables,
    "llmbar-pairwise": llmbar_tables,
    "pandalm-testset": pandalm_tables,
}


def calibrate(
    store: Store,
    dataset: str,
    *,
    rubric: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    limit: int | None = None,
    data_dir: Any = None,
    judge_model: Model | None = None,
    n_items: int | None = None,
) -> dict[str, Any]:
    """Import ``dataset`` if needed, then its standard tables and any other judge's tables;
    with ``judge_model``, that model first judges the set's items under ``rubric`` (the first
    ``limit`` documents, then the first ``n_items`` items) and its tables come alone."""
    from evalharness.errors import DataError
    from evalharness.ratings.importers import IMPORTERS, import_dataset

    if dataset not in DATASET_TABLES and dataset not in datasets(store):
        known = sorted(set(DATASET_TABLES) | set(datasets(store)))
        raise DataError(f"unknown dataset {dataset!r}; known: {', '.join(known)}")
    imported = None
    if dataset in IMPORTERS and dataset not in datasets(store):
        imported = asdict(import_dataset(store, dataset, data_dir))
    if judge_model is not None:
        tables, found, judged = _model_tables(store, dataset, rubric, judge_model, limit,
                                              n_items, n_boot, seed)  # fmt: skip
    else:
        tables, judged = _stored_tables(store, dataset, rubric, limit, n_boot, seed), None
        found = [a for a in measure(store, dataset, n_boot=n_boot, seed=seed)
                 if rubric is None or a.rubric == rubric]  # fmt: skip
    store_agreement(store, found)
    return {
        "ppi": rated_runs_ppi(store, dataset),
        "dataset": dataset,
        "rubric": rubric,
        "n_boot": n_boot,
        "seed": seed,
        "limit": limit,
        "items": n_items,
        "imported": imported,
        "judged": judged,
        "tables": [jsonable(asdict(t)) for t in tables],
        "stored_agreement": [asdict(a) for a in found],
    }


def _stored_tables(
    store: Store, dataset: str, rubric: str | None, limit: int | None, n_boot: int, seed: int
) -> list[Table]:
    """The standard tables, published judges' and the team's judges on rated run samples."""
    tables: list[Table] = []
    if dataset in DATASET_TABLES and rubric is None:
        tables += DATASET_TABLES[dataset](store, n_boot, seed, limit)
    covered = () if rubric is not None else PUBLISHED_JUDGES.get(dataset, ())
    tables += judge_tables(store, dataset, rubric=rubric, exclude=covered, n_boot=n_boot, seed=seed)
    own = run_judgment_scores(store, dataset)  # the team's judges on rated run samples
    own = own if rubric is None else own[own["rubric"] == rubric]
    if not own.empty:
        tables += judge_tables(
            store, dataset, rubric=rubric, judge_scores=own, n_boot=n_boot, seed=seed
        )
    return tables


def _model_tables(
    store: Store,
    dataset: str,
    rubric: str | None,
    model: Model,
    limit: int | None,
    n_items: int | None,
    n_boot: int,
    seed: int,
) -> tuple[list[Table], list[Agreement], dict[str, Any]]:
    """``model`` judges the chosen items (resuming), then its tables and agreement on them."""
    from evalharness.errors import ConfigError
    from evalharness.judges.rubric import load_rubric
    from evalharness.meta.judge_items import judge_items, select_items

    if rubric is None:
        raise ConfigError("calibrate --judge-model: give --rubric, the rubric the judge applies")
    judged = judge_items(store, dataset, load_rubric(rubric), model, n_items=n_items,
                         n_groups=limit)  # fmt: skip
    chosen = set(select_items(store, dataset, n_items=n_items, n_groups=limit)["id"])
    scores = ratings(store, dataset=dataset, rubric=rubric, annotators=list(judged.annotators))
    scores = scores[scores["item_id"].isin(chosen)]
    tables = judge_tables(store, dataset, rubric=rubric, judge_scores=scores, n_boot=n_boot,
                          seed=seed)  # fmt: skip
    humans = ratings(store, dataset=dataset, rubric=rubric, kind="human")
    found = agreements(scores, humans[humans["item_id"].isin(chosen)], dataset, n_boot, seed)
    return tables, found, asdict(judged)


def rated_runs_ppi(store: Store, dataset: str) -> list[dict[str, Any]]:
    """PPI of the judged metrics of every run whose samples people rated as ``dataset``."""
    query = sa.select(RatedItem.run_id).where(RatedItem.dataset == dataset)
    with store.session() as s:
        runs = sorted(r for r in s.scalars(query.where(RatedItem.run_id.is_not(None)).distinct()))
    return [{"run_id": run} | asdict(p) for run in runs for p in run_ppi(store, run)]
