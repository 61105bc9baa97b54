"""Generation metrics: sacrebleu corpus scores, ROUGE, SQuAD exact match / F1.

sacrebleu and rouge_score are imported inside the functions so that importing the registry
stays light.

Corpus metrics (``bleu``, ``chrf``, ``ter``) keep sacrebleu's own sufficient statistics per
sample (n-gram counts, character n-gram counts, edits and reference length) and recompute the
corpus score from their column sums, exactly as sacrebleu's paired bootstrap does. Scores are
on sacrebleu's 0-100 scale with its default settings (BLEU: 13a tokenizer, exp smoothing;
chrF: char order 6, beta 2; TER: case-insensitive).

Varying reference counts: sacrebleu takes reference *streams* and pairs them with ``zip``, so
a short stream silently truncates the whole corpus and an empty string is a real (empty)
reference that, e.g., changes BLEU's closest reference length. Only ``None`` entries are
dropped per segment. We therefore pad every sample's references with ``None`` up to the
largest count, which gives each segment exactly its own references.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from evalharness.errors import DataError
from evalharness.metrics.base import Metric, Outcome
from evalharness.metrics.lm_match import MatchOptions, lm_exact_match_stats

# ---------------------------------------------------------------------------------------------
# shared helpers


def _mean_of_rows(sums: np.ndarray) -> float:
    """Aggregate of a ``[x, 1]`` metric: the mean over samples."""
    return float(sums[0] / sums[1]) if sums[1] > 0 else math.nan


def _check_references(outcomes: Sequence[Outcome]) -> None:
    for i, o in enumerate(outcomes):
        if not o.references:
            raise DataError(f"sample {i} has no references; generation metrics need at least one")


# ---------------------------------------------------------------------------------------------
# sacrebleu: bleu, chrf, ter


def _new_scorer(kind: str) -> Any:
    from sacrebleu.metrics import BLEU, CHRF, TER

    return {"bleu": BLEU, "chrf": CHRF, "ter": TER}[kind]()


@functools.cache
def _cached_scorer(kind: str) -> Any:
    """Scorer used only for ``_compute_score_from_stats``, which reads settings, never state."""
    return _new_scorer(kind)


def reference_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """Transpose per-sample references into sacrebleu streams, padding with ``None``."""
    width = max((len(r) for r in references), default=0)
    return [[r[j] if j < len(r) else None for r in references] for j in range(width)]


def _sacrebleu_stats(kind: str, outcomes: Sequence[Outcome]) -> np.ndarray:
    scorer = _new_scorer(kind)  # once per call: reference n-grams are cached per segment
    if not outcomes:
        width = len(scorer._extract_corpus_statistics(["a"], [["a"]])[0])
        return np.zeros((0, width))
    _check_references(outcomes)
    hyps = [o.prediction for o in outcomes]
    streams = reference_streams([o.references for o in outcomes])
    return np.asarray(scorer._extract_corpus_statistics(hyps, streams), dtype=float)


def _sacrebleu_aggregate(kind: str, sums: np.ndarray) -> float:
    return float(_cached_scorer(kind)._compute_score_from_stats(sums).score)


def _sacrebleu_metric(kind: str, higher_is_better: bool = True) -> Metric:
    return Metric(
        kind,
        "generate",
        functools.partial(_sacrebleu_stats, kind),
        functools.partial(_sacrebleu_aggregate, kind),
        higher_is_better=higher_is_better,
    )


BLEU = _sacrebleu_metric("bleu")
CHRF = _sacrebleu_metric("chrf")
TER = _sacrebleu_metric("ter", higher_is_better=False)


# ---------------------------------------------------------------------------------------------
# ROUGE (rouge-score, Porter stemming, F-measure, max over references, mean over samples)


def _rouge_stats(rouge_type: str, outcomes: Sequence[Outcome]) -> np.ndarray:
    """Rows ``[f, 1]``. ``rougeLsum`` treats newlines as sentence boundaries (rouge-score's
    convention); a prediction or reference without newlines is one sentence, so callers that
    want summary-level LCS must put one sentence per line. rouge-score's default tokenizer
    keeps only ``[a-z0-9]`` tokens, so it is meaningful for English only."""
    if not outcomes:
        return np.zeros((0, 2))
    _check_references(outcomes)
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)
    rows = [
        [scorer.score_multi(list(o.references), o.prediction)[rouge_type].fmeasure, 1.0]
        for o in outcomes
    ]
    return np.asarray(rows, dtype=float)


def _rouge_metric(rouge_type: str) -> Metric:
    return Metric(
        rouge_type, "generate", functools.partial(_rouge_stats, rouge_type), _mean_of_rows
    )


ROUGE1 = _rouge_metric("rouge1")
ROUGE2 = _rouge_metric("rouge2")
ROUGEL = _rouge_metric("rougeL")
ROUGELSUM = _rouge_metric("rougeLsum")


# ---------------------------------------------------------------------------------------------
# SQuAD v1.1 exact match and token F1

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lowercase, drop punctuation, drop articles, squash spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_f1(prediction: str, reference: str) -> float:
    """Token F1 of the official v1.1 script (so two answers that normalise to nothing score 0)."""
    pred_tokens = normalize_answer(prediction).split()
    ref_tokens = normalize_answer(reference).split()
    same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def _exact_match_stats(outcomes: Sequence[Outcome]) -> np.ndarray:
    _check_references(outcomes)
    rows = [
        [
            float(any(normalize_answer(o.prediction) == normalize_answer(r) for r in o.references)),
            1.0,
        ]
        for o in outcomes
    ]
    return np.asarray(rows, dtype=float).reshape(-1, 2)


def _f1_stats(outcomes: Sequence[Outcome]) -> np.ndarray:
    _check_references(outcomes)
    rows = [[max(squad_f1(o.prediction, r) for r in o.references), 1.0] for o in outcomes]
    return np.asarray(rows, dtype=float).reshape(-1, 2)


def _exact_match_strict_stats(outcomes: Sequence[Outcome]) -> np.ndarray:
    """Whitespace-trimmed string equality: keeps "1.5" != "15", unlike SQuAD normalisation."""
    _check_references(outcomes)
    rows = [
        [float(any(o.prediction.strip() == r.strip() for r in o.references)), 1.0] for o in outcomes
    ]
    return np.asarray(rows, dtype=float).reshape(-1, 2)


EXACT_MATCH = Metric("exact_match", "generate", _exact_match_stats, _mean_of_rows)
F1 = Metric("f1", "generate", _f1_stats, _mean_of_rows)
EXACT_MATCH_STRICT = Metric(
    "exact_match_strict", "generate", _exact_match_strict_stats, _mean_of_rows
)


def _lm_exact_match_stats(outcomes: Sequence[Outcome]) -> np.ndarray:
    """lm-evaluation-harness's ``exact_match``: plain equality (a task's ``match`` options
    are bound by ``filters.task_metrics``)."""
    _check_references(outcomes)
    return lm_exact_match_stats(outcomes, MatchOptions())


LM_EXACT_MATCH = Metric("lm_exact_match", "generate", _lm_exact_match_stats, _mean_of_rows)

TEXT_METRICS: tuple[Metric, ...] = (
    BLEU,
    CHRF,
    TER,
    ROUGE1,
    ROUGE2,
    ROUGEL,
    ROUGELSUM,
    EXACT_MATCH,
    F1,
    EXACT_MATCH_STRICT,
    LM_EXACT_MATCH,
)
