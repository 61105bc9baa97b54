"""lm-evaluation-harness's ``exact_match`` (``exact_match_hf_evaluate``): plain string equality
after the ``match`` options, unlike this project's SQuAD-normalised ``exact_match``."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

import numpy as np

from evalharness.metrics.base import Outcome
from evalharness.specs import Spec


class MatchOptions(Spec):
    """Options of ``lm_exact_match``, applied to prediction and references alike."""

    regexes_to_ignore: tuple[str, ...] = ()
    ignore_case: bool = False
    ignore_punctuation: bool = False
    ignore_numbers: bool = False


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
