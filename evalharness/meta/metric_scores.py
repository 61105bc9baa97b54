"""Automatic metrics as raters: the project's metrics scored on rated items.

Per-item values of mean-type metrics (ROUGE) are computed with ``evalharness.metrics`` against
each of an item's references separately and averaged over them, then cached in the store as
ratings by an annotator of kind ``metric`` (annotator and criterion = the metric name, rubric
``metric``), so a second ``calibrate`` reads them instead of recomputing. Corpus metrics (BLEU,
chrF) have no per-item value: ``system_corpus_scores`` keeps sacrebleu's sufficient statistics
per item and recomputes each system's corpus score on every bootstrap resample, as
``metrics.stats`` does.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from evalharness.ratings.records import (
    NewRating,
    add_ratings,
    ensure_annotator,
    items,
    ratings,
)
from evalharness.store import Store

if TYPE_CHECKING:
    import pandas as pd

METRIC_RUBRIC = "metric"


_STEMS: dict[tuple[Any, str, bool], str] = {}  # memoised stems, shared across calls


@contextlib.contextmanager
def memoized_stemming() -> Iterator[None]:
    """Memoise nltk's Porter stemmer while the block runs (the scores do not change).

    rouge-score re-tokenises and re-stems every reference on every call; on SummEval (1,600
    summaries x 11 references) stemming is ~90% of ROUGE-1/2's time. Stems are kept in a
    module-level dict (a vocabulary's worth of short strings); the original method is restored
    on exit.
    """
    try:
        from nltk.stem.porter import PorterStemmer
    except ImportError:  # rouge-score without nltk: nothing to speed up
        yield
        return
    original = PorterStemmer.stem
    if len(_STEMS) > 1_000_000:
        _STEMS.clear()

    def stem(self: Any, word: str, to_lowercase: bool = True) -> str:
        key = (self.mode, word, to_lowercase)
        if key not in _STEMS:
            _STEMS[key] = original(self, word, to_lowercase)
        return _STEMS[key]

    PorterStemmer.stem = stem  # type: ignore[method-assign]
    try:
        yield
    finally:
        PorterStemmer.stem = original  # type: ignore[method-assign]


def _references(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


_SENTENCE_END = re.compile(r"(?<=\s[.!?])\s+(?=\S)")
_WIDE_SPACE = re.compile(r"\s{2,}")


def sentences_per_line(text: str) -> str:
    """One sentence per line, as ``rougeLsum`` expects, for tokenized text: a new line after a
    free-standing ``.``/``!``/``?`` token (PTB style, as in SummEval) and at runs of 2+ spaces
    (REALSumm's removed sentence tags). Text that already has newlines is left as it is."""
    if "\n" in text:
        return text
    return _SENTENCE_END.sub("\n", _WIDE_SPACE.sub("\n", text.strip()))


def per_item_values(
    metric_name: str, responses: Sequence[str], references: Sequence[Any]
) -> np.ndarray:
    """A mean-type metric per item, computed against each reference separately and averaged
    over the item's references (SummEval's protocol; rouge-score's own multi-reference mode
    takes the maximum instead). ``rougeLsum`` gets one sentence per line."""
    from evalharness.metrics import Outcome, get_metric

    metric = get_metric(metric_name)
    split = sentences_per_line if metric_name == "rougeLsum" else (lambda t: t)
    refs = [_references(r) for r in references]
    sums, counts = np.zeros(len(refs)), np.zeros(len(refs))
    for j in range(max((len(r) for r in refs), default=0)):
        idx = [i for i, r in enumerate(refs) if len(r) > j]
        outcomes = [
            Outcome(prediction=split(responses[i]), references=(split(refs[i][j]),)) for i in idx
        ]
        with memoized_stemming():
            stats = metric.stats(outcomes)
        sums[idx] += [metric.value(stats[k : k + 1]) for k in range(len(idx))]
        counts[idx] += 1
    with np.errstate(all="ignore"):
        return sums / counts


def metric_scores(
    store: Store,
    dataset: str,
    metric_names: Sequence[str],
    item_ids: Sequence[str] | None = None,
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """Per-item metric values (rows: item ids, columns: metric names), mean over references.

    Values not yet stored are computed with the project's metrics on ``response`` vs
    ``reference`` (``per_item_values``) and stored as ``metric`` ratings; stored ones are
    reused. ``item_ids`` restricts the items (default: all of the dataset's).
    """
    frame = items(store, dataset).set_index("id")
    frame = frame[frame["response"].notna()]
    if item_ids is not None:
        frame = frame.loc[list(item_ids)]
    table = _stored(store, dataset)
    for name in metric_names:
        have = table[name].dropna().index if name in table.columns else []
        todo = frame.drop(index=frame.index.intersection(have))
        if todo.empty:
            continue
        if progress:
            print(f"computing {name} on {len(todo)} {dataset} items ...", file=sys.stderr)
        values = per_item_values(name, list(todo["response"]), list(todo["reference"]))
        ensure_annotator(store, name, f"metric {name} (evalharness.metrics)", "metric")
        note = f"evalharness.metrics.{name}, mean over the item's references"
        add_ratings(
            store,
            [
                NewRating(name, item_id, METRIC_RUBRIC, name, float(v), comment=note)
                for item_id, v in zip(todo.index, values, strict=True)
                if np.isfinite(v)
            ],
        )
        table = _stored(store, dataset)
    return table.reindex(index=frame.index, columns=list(metric_names))


def _stored(store: Store, dataset: str) -> pd.DataFrame:
    have = ratings(store, dataset=dataset, rubric=METRIC_RUBRIC, kind="metric")
    return have.pivot_table(index="item_id", columns="criterion", values="score")


def corpus_stats(metric_name: str, responses: Sequence[str], references: Sequence[Any]) -> Any:
    """The project metric's sufficient-statistics rows, one per item."""
    from evalharness.metrics import Outcome, get_metric

    metric = get_metric(metric_name)
    outcomes = [
        Outcome(prediction=r, references=_references(ref))
        for r, ref in zip(responses, references, strict=True)
    ]
    return metric, metric.stats(outcomes)


def system_corpus_scores(
    metric_name: str,
    frame: pd.DataFrame,
    human: str,
    n_boot: int,
    seed: int,
) -> tuple[dict[str, float], dict[str, float], np.ndarray, np.ndarray]:
    """Corpus metric and mean human score per system, and both on segment resamples.

    ``frame`` has one row per (system, segment) with ``system_id``, ``group_id`` (the segment),
    ``response``, ``reference`` and the ``human`` column; every system must cover the same
    segments. Returns (metric per system, human mean per system, metric resamples (B, S),
    human resamples (B, S)), systems in sorted order; resamples draw segments with replacement.
    """
    from evalharness.metrics.stats import resample_counts

    systems = sorted(frame["system_id"].unique())
    segments = sorted(frame["group_id"].unique())
    counts = resample_counts(len(segments), n_boot, np.random.default_rng(seed)).astype(float)
    metric_point, human_point = {}, {}
    metric_boot = np.empty((n_boot, len(systems)))
    human_boot = np.empty((n_boot, len(systems)))
    for s, system in enumerate(systems):
        rows = frame[frame["system_id"] == system].set_index("group_id").loc[segments]
        metric, stats = corpus_stats(metric_name, list(rows["response"]), list(rows["reference"]))
        h = rows[human].to_numpy(dtype=float)
        metric_point[system] = metric.value(stats)
        human_point[system] = float(h.mean())
        metric_boot[:, s] = [metric.aggregate(row) for row in counts @ stats]
        human_boot[:, s] = counts @ h / len(segments)
    return metric_point, human_point, metric_boot, human_boot
