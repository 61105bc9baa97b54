"""Named answer filters and lm-evaluation-harness's ``exact_match``, for generate tasks.

A task may list ``answer_filters``: named pipelines of steps (``regex``, ``take_first``,
``lowercase``, ``uppercase``, ``remove_whitespace``) applied to each raw generation, as
lm-evaluation-harness's ``filter_list`` does. A metric named ``BASE,FILTER``
(``lm_exact_match,strict-match``) scores the answer of pipeline FILTER with metric BASE, so one
generation is scored under every pipeline. ``lm_exact_match`` is lm-eval's ``exact_match``:
plain string equality after ``match`` options (regexes removed, case, punctuation, digits).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from functools import partial
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from evalharness.metrics import METRICS
from evalharness.metrics.base import Metric, Outcome
from evalharness.metrics.lm_match import MatchOptions, lm_exact_match_stats
from evalharness.specs import Spec

FALLBACK = "[invalid]"  # lm-eval's answer of a regex that finds nothing


class FilterStep(Spec):
    """One step of a pipeline, with lm-eval's parameter names and defaults."""

    function: Literal["regex", "take_first", "lowercase", "uppercase", "remove_whitespace"]
    regex_pattern: str = r"#### (\-?[0-9\.\,]+)"
    group_select: int = 0
    fallback: str = FALLBACK

    @field_validator("regex_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return pattern


class AnswerFilter(Spec):
    name: str = Field(pattern=r"^[^,\s]+$")
    steps: tuple[FilterStep, ...] = ()


def _regex(step: FilterStep, text: str) -> str:
    """lm-eval's ``RegexFilter``: the ``group_select``-th match, its first non-empty group."""
    found = re.findall(step.regex_pattern, text)
    if not found:
        return step.fallback
    try:
        match = found[step.group_select]
    except IndexError:
        return step.fallback
    if isinstance(match, tuple):
        match = next((m for m in match if m), step.fallback)
    return match.strip()


def apply_steps(steps: Sequence[FilterStep], text: str) -> str:
    """One generation through a pipeline (``take_first``: one generation is already first)."""
    for step in steps:
        if step.function == "regex":
            text = _regex(step, text)
        elif step.function == "lowercase":
            text = text.lower()
        elif step.function == "uppercase":
            text = text.upper()
        elif step.function == "remove_whitespace":
            text = text.strip()
    return text


def _filtered_stats(base: Metric, name: str, outcomes: Sequence[Outcome]) -> np.ndarray:
    chosen = [dataclasses.replace(o, prediction=o.filtered[name]) for o in outcomes]
    return base.stats(chosen)


def task_metrics(names: Sequence[str], match: MatchOptions) -> list[Metric]:
    """A task's metrics as it scores samples: ``match`` bound, filter pipelines chosen."""
    out = []
    for full in names:
        name, _, pipeline = full.partition(",")
        metric = METRICS[name]
        if name == "lm_exact_match":
            metric = dataclasses.replace(metric, stats=partial(lm_exact_match_stats, options=match))
        if pipeline:
            stats = partial(_filtered_stats, metric, pipeline)
            metric = dataclasses.replace(metric, name=full, stats=stats)
        out.append(metric)
    return out
