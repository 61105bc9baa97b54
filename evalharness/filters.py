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
import string
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, field_validator

from evalharness.metrics.base import Metric, Outcome
from evalharness.specs import Spec

if TYPE_CHECKING:
    from evalharness.config import TaskSpec

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


class MatchOptions(Spec):
    """Options of ``lm_exact_match``, applied to prediction and references alike."""

    regexes_to_ignore: tuple[str, ...] = ()
    ignore_case: bool = False
    ignore_punctuation: bool = False
    ignore_numbers: bool = False


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


def normalise(text: str, options: MatchOptions) -> str:
    """``exact_match_hf_evaluate``'s transformation of one string."""
    for pattern in options.regexes_to_ignore:
        text = re.sub(pattern, "", text)
    if options.ignore_case:
        text = text.lower()
    if options.ignore_punctuation:
        text = text.translate(str.maketrans("", "", string.punctuation))
    if options.ignore_numbers:
        text = text.translate(str.maketrans("", "", string.digits))
    return text


def lm_exact_match_stats(outcomes: Sequence[Outcome], options: MatchOptions) -> np.ndarray:
    """Rows ``[x, 1]``: 1 when the prediction equals any reference after ``options``."""
    rows = []
    for o in outcomes:
        pred = normalise(o.prediction, options)
        rows.append([float(any(pred == normalise(r, options) for r in o.references)), 1.0])
    return np.asarray(rows, dtype=float).reshape(-1, 2)


def _filtered_stats(base: Metric, name: str, outcomes: Sequence[Outcome]) -> np.ndarray:
    chosen = [dataclasses.replace(o, prediction=o.filtered[name]) for o in outcomes]
    return base.stats(chosen)


def task_metrics(spec: TaskSpec) -> list[Metric]:
    """The metrics of a task as it scores samples: options bound, filter pipelines chosen."""
    from evalharness.metrics import METRICS

    out = []
    for full in spec.metrics:
        name, _, pipeline = full.partition(",")
        metric = METRICS[name]
        if name == "lm_exact_match":
            metric = dataclasses.replace(
                metric, stats=partial(lm_exact_match_stats, options=spec.match)
            )
        if pipeline:
            stats = partial(_filtered_stats, metric, pipeline)
            metric = dataclasses.replace(metric, name=full, stats=stats)
        out.append(metric)
    return out
