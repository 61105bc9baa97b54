"""Metric registry. Importing it is light: sacrebleu and rouge_score load on first use."""

from __future__ import annotations

from dataclasses import replace

from evalharness.metrics.base import OUTPUT_TYPES, Metric, Outcome
from evalharness.metrics.code import CODE_METRICS
from evalharness.metrics.likelihood import LIKELIHOOD_METRICS
from evalharness.metrics.retrieval import RETRIEVAL_METRICS
from evalharness.metrics.stats import Aggregate, PairedComparison, paired_bootstrap, summarize
from evalharness.metrics.text import TEXT_METRICS

METRICS: dict[str, Metric] = {
    m.name: m for m in (*TEXT_METRICS, *LIKELIHOOD_METRICS, *RETRIEVAL_METRICS, *CODE_METRICS)
}


def get_metric(name: str) -> Metric:
    """The registered metric called ``name``; KeyError lists the known names.

    ``BASE,FILTER`` (a metric of a named answer filter, ``evalharness/filters.py``) is BASE
    under that name: its stored statistics aggregate as BASE's do."""
    base, _, pipeline = name.partition(",")
    try:
        metric = METRICS[base]
    except KeyError:
        raise KeyError(
            f"unknown metric {name!r}; known metrics: {', '.join(sorted(METRICS))}"
        ) from None
    return replace(metric, name=name) if pipeline else metric


__all__ = [
    "METRICS",
    "OUTPUT_TYPES",
    "Aggregate",
    "Metric",
    "Outcome",
    "PairedComparison",
    "get_metric",
    "paired_bootstrap",
    "summarize",
]
