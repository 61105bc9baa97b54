"""The metric contract: per-sample sufficient statistics plus a corpus aggregate.

Every metric turns each sample into a row of sufficient statistics and computes its value
from the column sums of those rows. A mean metric's row is ``[x, 1]``; corpus BLEU's row is
sacrebleu's n-gram counts; perplexity's row is ``[nll, n_tokens]``. The same aggregate then
serves the point estimate, the per-sample value (the aggregate of one row) and every
bootstrap resample (the aggregate of resampled sums), so corpus metrics are never averaged
per sample. Example::

    def _acc_stats(outcomes):
        return np.array([[float(o.choice_logprobs.index(max(o.choice_logprobs)) == o.gold), 1.0]
                         for o in outcomes])

    ACC = Metric("acc", "multiple_choice", _acc_stats, lambda s: s[0] / s[1])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

OUTPUT_TYPES = ("generate", "multiple_choice", "perplexity")


@dataclass(frozen=True)
class Outcome:
    """What a metric sees of one finished sample. Unused fields stay at their defaults."""

    # generate
    prediction: str = ""  # after the task's answer extractor
    predictions: tuple[str, ...] = ()  # all n sampled answers, extracted (pass@k)
    references: tuple[str, ...] = ()
    # multiple_choice
    choices: tuple[str, ...] = ()
    choice_logprobs: tuple[float, ...] = ()
    gold: int = -1
    # perplexity: log-probability of the scored text and the units it is normalised by
    logprob: float = 0.0
    n_tokens: int = 0
    n_words: int = 0
    n_bytes: int = 0
    # rag (any output type): ids of the retrieved passages, best first, and of the gold passages
    retrieved_ids: tuple[str, ...] = ()
    gold_ids: tuple[str, ...] = ()
    # generate: the answer of each named answer filter (``evalharness/filters.py``)
    filtered: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    name: str
    output_type: str  # one of OUTPUT_TYPES
    stats: Callable[[Sequence[Outcome]], np.ndarray]  # (n_samples, k) sufficient statistics
    aggregate: Callable[[np.ndarray], float]  # from column sums, shape (k,)
    higher_is_better: bool = True

    def value(self, stats: np.ndarray) -> float:
        return float(self.aggregate(np.asarray(stats, dtype=float).sum(axis=0)))
