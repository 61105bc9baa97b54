"""Pairwise verdicts ("which of two responses is better"), with ties as a label of their own.

Verdicts are normalised to ``"1"`` (the pair's first response), ``"2"``, ``"tie"`` or
``"unparseable"`` (a judge answer that could not be read); ``None`` means not rated. Order
matters for judges, so a verdict is always expressed in the *pair's* numbering: a verdict given
with the responses swapped must be mapped back (``swap``) before it is compared.

Scoring rules (stated once, used everywhere):
- accuracy against a gold label: a verdict is right when it equals the gold label, ties included
  (a judge that says "tie" on a gold tie is right); an unparseable or missing judge verdict is
  wrong; items without a gold label are skipped. ``accuracy_excl_gold_ties`` repeats it on the
  items whose gold label is not a tie (the usual two-way accuracy).
- position consistency: the share of pairs whose verdicts in the two orders agree; a pair with
  an unparseable or missing verdict in either order counts as inconsistent.
- Cohen's kappa between two raters: scikit-learn on the items both rated, ``unparseable`` kept
  as a label of its own.
- majority label: the label with a strict plurality among a pair's raters; without one (1 vs 2,
  or 1 / 2 / tie) the raters disagree and the majority is ``"tie"``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from evalharness.meta.statistics import (
    Stat,
    batch_kappa,
    bootstrap,
    ci,
    cohen_kappa,
    column_means,
    mean_ci,
)

FIRST, SECOND, TIE, UNPARSEABLE = "1", "2", "tie", "unparseable"
LABELS = (FIRST, SECOND, TIE)

_ALIASES = {
    "1": FIRST,
    "a": FIRST,
    "first": FIRST,
    "output_1": FIRST,
    "response1": FIRST,
    "2": SECOND,
    "b": SECOND,
    "second": SECOND,
    "output_2": SECOND,
    "response2": SECOND,
    "0": TIE,
    "tie": TIE,
    "draw": TIE,
    "equal": TIE,
    "same": TIE,
}


def normalize_verdict(value: Any) -> str | None:
    """``1``/``"A"`` -> "1", ``2``/``"B"`` -> "2", ``0``/``"Tie"`` -> "tie", None/NaN -> None;
    anything else (``"garbage"``, free text) -> "unparseable"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _ALIASES.get(str(value).strip().lower(), UNPARSEABLE)


def normalize(values: Sequence[Any]) -> list[str | None]:
    return [normalize_verdict(v) for v in values]


def swap(verdict: Any) -> str | None:
    """Map a verdict given with the two responses swapped back to the pair's numbering."""
    v = normalize_verdict(verdict)
    return {FIRST: SECOND, SECOND: FIRST}.get(v, v) if v is not None else None


def accuracy(
    judge: Sequence[Any], gold: Sequence[Any], n_boot: int = 1000, seed: int = 0
) -> dict[str, Stat]:
    """Three-way accuracy (ties explicit) and two-way accuracy on the non-tie gold items."""
    j, g = normalize(judge), normalize(gold)
    if len(j) != len(g):
        raise ValueError(f"judge and gold differ in length: {len(j)} vs {len(g)}")
    keep = [i for i, gi in enumerate(g) if gi is not None]
    right = np.array([float(j[i] == g[i]) for i in keep])
    no_tie = np.array([float(j[i] == g[i]) for i in keep if g[i] != TIE])
    failed = np.array([float(j[i] in (None, UNPARSEABLE)) for i in keep])
    return {
        "accuracy": mean_ci(right, n_boot, seed),
        "accuracy_excl_gold_ties": mean_ci(no_tie, n_boot, seed),
        "unparseable_rate": mean_ci(failed, n_boot, seed),
    }


def position_consistency(
    verdict_ab: Sequence[Any], verdict_ba: Sequence[Any], n_boot: int = 1000, seed: int = 0
) -> Stat:
    """Share of pairs with the same winner in both orders (``verdict_ba`` already mapped back)."""
    ab, ba = normalize(verdict_ab), normalize(verdict_ba)
    if len(ab) != len(ba):
        raise ValueError(f"the two orders differ in length: {len(ab)} vs {len(ba)}")
    same = [float(a == b and a not in (None, UNPARSEABLE)) for a, b in zip(ab, ba, strict=True)]
    return mean_ci(same, n_boot, seed)


def both_orders(
    gold: Sequence[Any],
    verdict_ab: Sequence[Any],
    verdict_ba: Sequence[Any],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Stat]:
    """A judge run in both presentation orders: accuracy over all 2n verdicts (pairs resampled),
    accuracy per order, and position consistency (LLMBar's "positional agreement")."""
    g, ab, ba = normalize(gold), normalize(verdict_ab), normalize(verdict_ba)
    keep = [i for i, gi in enumerate(g) if gi is not None]
    per_pair = np.array([(float(ab[i] == g[i]) + float(ba[i] == g[i])) / 2 for i in keep])
    return {
        "accuracy": mean_ci(per_pair, n_boot, seed),
        "accuracy_ab": accuracy([ab[i] for i in keep], [g[i] for i in keep], n_boot, seed)[
            "accuracy"
        ],
        "accuracy_ba": accuracy([ba[i] for i in keep], [g[i] for i in keep], n_boot, seed)[
            "accuracy"
        ],
        "position_consistency": position_consistency(
            [ab[i] for i in keep], [ba[i] for i in keep], n_boot, seed
        ),
    }


def rater_kappa(a: Sequence[Any], b: Sequence[Any], n_boot: int = 1000, seed: int = 0) -> Stat:
    """Cohen's kappa (unweighted) between two raters' verdicts, on the items both rated."""
    x, y = normalize(a), normalize(b)
    pairs = [(p, q) for p, q in zip(x, y, strict=True) if p is not None and q is not None]
    if not pairs:
        return ci(math.nan, math.nan, math.nan, 0)
    label_set = sorted({v for pair in pairs for v in pair})
    index = {v: i for i, v in enumerate(label_set)}
    cx = np.array([index[p] for p, _ in pairs])
    cy = np.array([index[q] for _, q in pairs])
    value = cohen_kappa(cx, cy, labels=range(len(label_set)))
    if len(pairs) < 2:
        return ci(value, value, value, len(pairs))
    k = len(label_set)
    low, high = bootstrap({"k": lambda p, q: batch_kappa(p, q, k)}, cx, cy, n_boot, seed)["k"]
    return ci(value, low, high, len(pairs))


def majority_label(votes: Sequence[Sequence[Any]]) -> list[str | None]:
    """Per item, the plurality label of its raters' verdicts (see the module docstring).

    ``votes`` is one row per item, one entry per rater (None = that rater did not label it);
    unparseable votes are ignored; an item nobody labelled gets None.
    """
    out: list[str | None] = []
    for row in votes:
        counts = Counter(v for v in normalize(row) if v in LABELS)
        if not counts:
            out.append(None)
            continue
        ranked = counts.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            out.append(TIE)
        else:
            out.append(ranked[0][0])
    return out


def inter_rater(
    votes: Sequence[Sequence[Any]], names: Sequence[str], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Cohen's kappa for every pair of raters, their mean, and Krippendorff's alpha (nominal).

    ``votes`` as in ``majority_label`` (unparseable votes count as missing). Each pair's kappa
    uses the items both raters labelled; the CIs resample items, for all pairs at once.
    """
    from evalharness.meta.statistics import krippendorff_alpha, percentile_interval

    codes = {FIRST: 0, SECOND: 1, TIE: 2}
    coded = np.array([[codes.get(v, -1) for v in normalize(r)] for r in votes], dtype=np.int64)
    n = len(coded)
    pair_list = [(a, b) for a in range(len(names)) for b in range(a + 1, len(names))]
    pairs = {
        f"{names[a]}|{names[b]}": rater_kappa(
            [LABELS[c] if c >= 0 else None for c in coded[:, a]],
            [LABELS[c] if c >= 0 else None for c in coded[:, b]],
            n_boot,
            seed,
        )
        for a, b in pair_list
    }
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    per_pair = np.full((len(pair_list), n_boot), np.nan)
    for p, (a, b) in enumerate(pair_list):
        x, y = coded[idx, a], coded[idx, b]
        both = (x >= 0) & (y >= 0)
        if both.all():
            per_pair[p] = batch_kappa(x, y, 3)
            continue
        for r in range(n_boot):
            if both[r].any():
                per_pair[p, r] = batch_kappa(x[r, both[r]][None], y[r, both[r]][None], 3)[0]
    mean_kappa = float(np.mean([p["value"] for p in pairs.values()])) if pairs else math.nan
    numeric = np.where(coded >= 0, coded, np.nan).astype(float)
    alpha_boot = np.array([krippendorff_alpha(numeric[i], "nominal") for i in idx])
    return {
        "pairs": pairs,
        "mean_cohen_kappa": ci(mean_kappa, *percentile_interval(column_means(per_pair)), n),
        "krippendorff_alpha": ci(
            krippendorff_alpha(numeric, "nominal"), *percentile_interval(alpha_boot), n
        ),
    }
