"""Retrieval metrics of a RAG task: recall, precision, MRR and nDCG at k, binary relevance.

``k`` is the length of the retrieved list (the task's ``rag.k``); relevant = a gold passage id of
the item (``rag.gold``). Each sample's row is ``[value, 1]``; a sample without gold ids or
without retrieval (``retriever: none``) gets ``[0, 0]`` and so does not count in the mean (the
value is NaN when no sample counts). A retrieved id listed twice counts once.

    recall@k     = |gold in top k| / |gold|
    precision@k  = |gold in top k| / k
    MRR          = 1 / rank of the first gold passage (0 when none is retrieved)
    nDCG@k       = sum over gold hits at rank r of 1/log2(r + 1), divided by the same sum for
                   min(|gold|, k) gold passages at ranks 1, 2, ...

They are registered for ``generate`` tasks, the output type of the bundled RAG tasks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from evalharness.metrics.base import Metric, Outcome


def _unique(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def recall_at_k(retrieved: Sequence[str], gold: Sequence[str]) -> float:
    return len(set(retrieved) & set(gold)) / len(set(gold))


def precision_at_k(retrieved: Sequence[str], gold: Sequence[str]) -> float:
    ranked = _unique(retrieved)
    return len(set(ranked) & set(gold)) / len(ranked)


def reciprocal_rank(retrieved: Sequence[str], gold: Sequence[str]) -> float:
    relevant = set(gold)
    for rank, doc in enumerate(_unique(retrieved), start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved: Sequence[str], gold: Sequence[str]) -> float:
    ranked, relevant = _unique(retrieved), set(gold)
    dcg = sum(1.0 / math.log2(rank + 1) for rank, d in enumerate(ranked, 1) if d in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), len(ranked)) + 1))
    return dcg / ideal


def _stats(fn: Callable[[Sequence[str], Sequence[str]], float]) -> Callable[..., np.ndarray]:
    def stats(outcomes: Sequence[Outcome]) -> np.ndarray:
        rows = [
            [fn(o.retrieved_ids, o.gold_ids), 1.0] if o.retrieved_ids and o.gold_ids else [0.0, 0.0]
            for o in outcomes
        ]
        return np.asarray(rows, dtype=float).reshape(-1, 2)

    return stats


def _weighted_mean(sums: np.ndarray) -> float:
    return float(sums[0] / sums[1]) if sums[1] > 0 else math.nan


RETRIEVAL_METRICS: tuple[Metric, ...] = tuple(
    Metric(name, "generate", _stats(fn), _weighted_mean)
    for name, fn in (
        ("recall_at_k", recall_at_k),
        ("precision_at_k", precision_at_k),
        ("mrr", reciprocal_rank),
        ("ndcg_at_k", ndcg_at_k),
    )
)
