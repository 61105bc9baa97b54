"""Log-likelihood metrics: multiple-choice accuracy and corpus-level perplexities.

Perplexities are corpus-level: each row keeps ``[logprob, n_units]`` and the value is
``exp(-Σ logprob / Σ n_units)``, i.e. weighted by tokens, words or bytes as in
lm-evaluation-harness. A mean of per-document perplexities would overweight short documents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from evalharness.errors import DataError
from evalharness.metrics.base import Metric, Outcome


def _mean_of_rows(sums: np.ndarray) -> float:
    return float(sums[0] / sums[1]) if sums[1] > 0 else math.nan


def _check_choices(i: int, o: Outcome, need_text: bool) -> None:
    if not o.choice_logprobs:
        raise DataError(f"sample {i} has no choice log-probabilities")
    if not 0 <= o.gold < len(o.choice_logprobs):
        raise DataError(f"sample {i}: gold {o.gold} is not a choice index")
    if need_text:
        if len(o.choices) != len(o.choice_logprobs):
            raise DataError(
                f"sample {i}: {len(o.choices)} choices but {len(o.choice_logprobs)} log-probs"
            )
        if any(len(c) == 0 for c in o.choices):
            raise DataError(f"sample {i}: an empty choice cannot be length-normalised")


def _acc_stats(outcomes: Sequence[Outcome]) -> np.ndarray:
    rows = []
    for i, o in enumerate(outcomes):
        _check_choices(i, o, need_text=False)
        rows.append([float(int(np.argmax(o.choice_logprobs)) == o.gold), 1.0])
    return np.asarray(rows, dtype=float).reshape(-1, 2)


def _acc_norm_stats(outcomes: Sequence[Outcome]) -> np.ndarray:
    """Argmax of logprob / characters of the choice text (lm-evaluation-harness ``acc_norm``).

    The length is that of ``Outcome.choices`` as scored, e.g. including a leading space."""
    rows = []
    for i, o in enumerate(outcomes):
        _check_choices(i, o, need_text=True)
        lengths = np.array([len(c) for c in o.choices], dtype=float)
        normed = np.asarray(o.choice_logprobs, dtype=float) / lengths
        rows.append([float(int(np.argmax(normed)) == o.gold), 1.0])
    return np.asarray(rows, dtype=float).reshape(-1, 2)


ACC = Metric("acc", "multiple_choice", _acc_stats, _mean_of_rows)
ACC_NORM = Metric("acc_norm", "multiple_choice", _acc_norm_stats, _mean_of_rows)


def _perplexity_rows(unit: str, outcomes: Sequence[Outcome]) -> np.ndarray:
    rows = [[o.logprob, float(getattr(o, unit))] for o in outcomes]
    for i, (_, n) in enumerate(rows):
        if n < 0:
            raise DataError(f"sample {i}: negative {unit}")
    return np.asarray(rows, dtype=float).reshape(-1, 2)


def _token_stats(outcomes: Sequence[Outcome]) -> np.ndarray:
    return _perplexity_rows("n_tokens", outcomes)


def _word_stats(outcomes: Sequence[Outcome]) -> np.ndarray:
    return _perplexity_rows("n_words", outcomes)


def _byte_stats(outcomes: Sequence[Outcome]) -> np.ndarray:
    return _perplexity_rows("n_bytes", outcomes)


def _exp_nll(sums: np.ndarray) -> float:
    """exp(-Σ logprob / Σ units); NaN when there are no units."""
    return math.exp(-sums[0] / sums[1]) if sums[1] > 0 else math.nan


def _bits_per_byte(sums: np.ndarray) -> float:
    return float(-sums[0] / (sums[1] * math.log(2))) if sums[1] > 0 else math.nan


PERPLEXITY = Metric("perplexity", "perplexity", _token_stats, _exp_nll, higher_is_better=False)
WORD_PERPLEXITY = Metric(
    "word_perplexity", "perplexity", _word_stats, _exp_nll, higher_is_better=False
)
BYTE_PERPLEXITY = Metric(
    "byte_perplexity", "perplexity", _byte_stats, _exp_nll, higher_is_better=False
)
BITS_PER_BYTE = Metric(
    "bits_per_byte", "perplexity", _byte_stats, _bits_per_byte, higher_is_better=False
)

LIKELIHOOD_METRICS: tuple[Metric, ...] = (
    ACC,
    ACC_NORM,
    PERPLEXITY,
    WORD_PERPLEXITY,
    BYTE_PERPLEXITY,
    BITS_PER_BYTE,
)
