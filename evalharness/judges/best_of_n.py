"""Best-of-N by a rubric judge: the index of the candidate answer the judge rates best.

``select_best`` judges many ``(source, candidates)`` groups in one batch (the runner's
``selector: judge:<rubric>``); ``select_best_of_n`` is the one-group form. Nothing is stored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evalharness.errors import ConfigError
from evalharness.judges.judge import Judge
from evalharness.judges.render import Subject
from evalharness.judges.rubric import Rubric
from evalharness.judges.stored import as_model, as_rubric
from evalharness.models.base import Model

__all__ = ["select_best", "select_best_of_n"]


def select_best_of_n(
    candidates: Sequence[str],
    rubric: str | Path | Rubric,
    judge_model: str | Model,
    *,
    source: str = "",
    reference: str | None = None,
    criterion: str | None = None,
    n: int = 1,
    max_reasks: int = 2,
) -> int:
    """Index of the best candidate answer to ``source`` by the judge (see ``select_best``)."""
    [best] = select_best(
        [(source, candidates)],
        rubric,
        judge_model,
        reference=[reference],
        criterion=criterion,
        n=n,
        max_reasks=max_reasks,
    )
    return best


def select_best(
    groups: Sequence[tuple[str, Sequence[str]]],
    rubric: str | Path | Rubric,
    judge_model: str | Model,
    *,
    reference: Sequence[str | None] | None = None,
    criterion: str | None = None,
    n: int = 1,
    max_reasks: int = 2,
) -> list[int]:
    """Per ``(source, candidates)`` group, the index of the candidate the judge rates best.

    All groups go to the judge as one batch (a pairwise rubric: one batch per knockout round).
    Pointwise rubric: the highest score of ``criterion`` (default: the mean of the score
    criteria; MQM penalties count negatively); unparsed candidates rank last. Pairwise rubric:
    a knockout in rounds, each pair asked in both orders; a tie or an unparsed pair keeps the
    earlier candidate. Ties go to the earlier index, and index 0 when nothing parsed.
    """
    rubric = as_rubric(rubric)
    if any(not candidates for _, candidates in groups):
        raise ValueError("no candidates")
    refs = list(reference) if reference is not None else [None] * len(groups)
    judge = Judge(as_model(judge_model), rubric, n=n, max_reasks=max_reasks)
    crits = [rubric.criterion(criterion)] if criterion else list(rubric.criteria)
    if rubric.mode == "pointwise":
        return _best_by_score(judge, rubric, crits, groups, refs)
    key = crits[0].name
    alive = [list(range(len(candidates))) for _, candidates in groups]
    while any(len(a) > 1 for a in alive):
        pairs = [(g, a[k], a[k + 1]) for g, a in enumerate(alive) for k in range(0, len(a) - 1, 2)]
        subjects = [
            Subject(groups[g][0], groups[g][1][x], refs[g], groups[g][1][y]) for g, x, y in pairs
        ]
        verdicts = iter(judge.judge_pairs(subjects))
        winners: list[list[int]] = [[] for _ in groups]
        for g, x, y in pairs:
            winners[g].append(y if next(verdicts).winners[key] == "b" else x)
        alive = [w + ([a[-1]] if len(a) % 2 else []) for w, a in zip(winners, alive, strict=True)]
    return [a[0] for a in alive]


def _best_by_score(
    judge: Judge,
    rubric: Rubric,
    crits: list[Any],
    groups: Sequence[tuple[str, Sequence[str]]],
    refs: list[str | None],
) -> list[int]:
    scored = [c for c in crits if c.kind != "label"]
    if not scored:
        raise ConfigError(f"rubric {rubric.name!r}: best-of-N needs a scored criterion")
    signs = [(-1.0 if c.kind == "errors" else 1.0) for c in scored]
    subjects = [
        Subject(source, text, ref)
        for (source, candidates), ref in zip(groups, refs, strict=True)
        for text in candidates
    ]
    verdicts = iter(judge.judge(subjects))
    chosen = []
    for _, candidates in groups:
        best, best_score = 0, -math.inf
        for i in range(len(candidates)):
            v = next(verdicts)
            if v.results is None:
                continue
            values = [
                s * (v.results[c.name].score or 0.0) for s, c in zip(signs, scored, strict=True)
            ]
            if (score := float(np.mean(values))) > best_score:
                best, best_score = i, score
        chosen.append(best)
    return chosen
