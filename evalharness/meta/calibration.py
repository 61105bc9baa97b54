"""Calibrating a judge to the human scale, and estimating the human mean with a judge's help.

Isotonic calibration (scikit-learn's ``IsotonicRegression``) maps judge scores monotonically to
the human scale. It is fitted with k-fold cross-fitting: every item's calibrated score comes
from a model that never saw that item (``GroupKFold`` when groups are given, so a document's
summaries never straddle train and test), so agreement reported after calibration is
out-of-sample. On a discrete human scale the calibrated score is also rounded to the nearest
level, which gives a confusion matrix and kappas.

Prediction-powered inference (Angelopoulos et al. 2023, "Prediction-powered inference",
Science): with judge scores f on N items and human scores Y on a labelled random subset of n
of them, the PPI estimate of the mean human score is

    theta_PP = mean(f over the unlabelled items) - mean(f - Y over the labelled items)

whose CLT interval is ``theta_PP +- z * sqrt(var(f_unlabelled) / N_u + var(f - Y) / n)``. It is
valid whatever the judge's bias (the labelled rectifier removes it) provided the labelled subset
is a uniformly random sample, and narrower than the human-only interval ``mean(Y) +-
z * sd(Y) / sqrt(n)`` when the judge tracks the humans well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from evalharness.meta.agreement import agreement
from evalharness.meta.statistics import Stat, ci, is_discrete, levels, mean_ci

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.isotonic import IsotonicRegression


def fit_isotonic(judge: Sequence[float], human: Sequence[float]) -> IsotonicRegression:
    """The isotonic map from judge to human scores, fitted on all items both scored."""
    from sklearn.isotonic import IsotonicRegression

    x, y = np.asarray(judge, dtype=float), np.asarray(human, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return IsotonicRegression(out_of_bounds="clip").fit(x[keep], y[keep])


def _splits(
    keep: np.ndarray, k: int, groups: Sequence[Any] | None, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import GroupKFold, KFold

    if keep.size < 2 * k:
        raise ValueError(f"need at least {2 * k} scored items for {k}-fold calibration")
    if groups is None:
        return list(KFold(k, shuffle=True, random_state=seed).split(keep))
    g = np.asarray(groups, dtype=object)[keep].astype(str)
    return list(GroupKFold(k).split(keep, groups=g))


def isotonic_cv(
    judge: Sequence[float],
    human: Sequence[float],
    k: int = 5,
    groups: Sequence[Any] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Out-of-fold calibrated judge scores (NaN where either score is missing).

    Folds: ``KFold(k, shuffle=True, random_state=seed)``, or ``GroupKFold(k)`` over ``groups``.
    """
    from sklearn.isotonic import IsotonicRegression

    x, y = np.asarray(judge, dtype=float), np.asarray(human, dtype=float)
    keep = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    out = np.full(x.shape, np.nan)
    for train, test in _splits(keep, k, groups, seed):
        model = IsotonicRegression(out_of_bounds="clip").fit(x[keep[train]], y[keep[train]])
        out[keep[test]] = model.predict(x[keep[test]])
    return out


def _fold_means(
    judge: np.ndarray, human: np.ndarray, k: int, groups: Sequence[Any] | None, seed: int
) -> np.ndarray:
    """Out-of-fold constant predictions (the training folds' human mean): the no-skill baseline,
    on the same folds as ``isotonic_cv``."""
    keep = np.flatnonzero(np.isfinite(judge) & np.isfinite(human))
    out = np.full(human.shape, np.nan)
    for train, test in _splits(keep, k, groups, seed):
        out[keep[test]] = human[keep[train]].mean()
    return out


def round_to_scale(values: np.ndarray, scale: Sequence[float]) -> np.ndarray:
    """Each value replaced by the nearest level of ``scale`` (NaN stays NaN)."""
    grid = np.asarray(sorted(scale), dtype=float)
    out = np.full(values.shape, np.nan)
    ok = np.isfinite(values)
    out[ok] = grid[np.abs(values[ok, None] - grid[None, :]).argmin(axis=1)]
    return out


def confusion(
    judge: Sequence[Any], human: Sequence[Any], labels: Sequence[Any] | None = None
) -> pd.DataFrame:
    """scikit-learn's confusion matrix: rows = human label, columns = judge label."""
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    pairs = [
        (h, j)
        for h, j in zip(human, judge, strict=True)
        if h is not None
        and j is not None
        and not (isinstance(h, float) and math.isnan(h))
        and not (isinstance(j, float) and math.isnan(j))
    ]
    hs, js = [p[0] for p in pairs], [p[1] for p in pairs]
    label_set = list(labels) if labels is not None else sorted(set(hs) | set(js))
    matrix = confusion_matrix(hs, js, labels=label_set)
    return pd.DataFrame(
        matrix,
        index=pd.Index(label_set, name="human"),
        columns=pd.Index(label_set, name="judge"),
    )


def calibrate(
    judge: Sequence[float],
    human: Sequence[float],
    *,
    groups: Sequence[Any] | None = None,
    systems: Sequence[Any] | None = None,
    k: int = 5,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Cross-fitted isotonic calibration of a judge and its out-of-sample agreement.

    Returns ``calibrated`` (out-of-fold scores), ``agreement`` (``agreement()`` of the
    calibrated scores with the humans), ``mae`` and ``mae_baseline`` (mean absolute error of the
    calibrated judge, and of predicting the training folds' human mean; both out-of-fold) and,
    on a discrete human scale, ``rounded`` (calibrated scores rounded to the nearest level),
    ``rounded_agreement`` and ``confusion`` (a DataFrame).
    """
    j, h = np.asarray(judge, dtype=float), np.asarray(human, dtype=float)
    calibrated = isotonic_cv(j, h, k, groups, seed)
    keep = np.isfinite(calibrated)
    baseline = _fold_means(j, h, k, groups, seed)
    out: dict[str, Any] = {
        "calibrated": calibrated,
        "agreement": agreement(calibrated, h, groups, systems, n_boot, seed),
        "mae": mean_ci(np.abs(calibrated - h)[keep], n_boot, seed),
        "mae_baseline": mean_ci(np.abs(baseline - h)[keep], n_boot, seed),
    }
    if is_discrete(h[np.isfinite(h)]):
        scale = levels(h[np.isfinite(h)])
        rounded = round_to_scale(calibrated, scale)
        out["rounded"] = rounded
        out["rounded_agreement"] = agreement(rounded, h, n_boot=n_boot, seed=seed)["item"]
        out["confusion"] = confusion(
            [None if math.isnan(v) else int(v) for v in rounded],
            [None if math.isnan(v) else int(v) for v in h],
            labels=scale,
        )
    return out


# ---------------------------------------------------------------------------------------------
# prediction-powered inference


def normal_quantile(confidence: float) -> float:
    """z of a two-sided interval: 1.96 for 0.95."""
    from scipy.stats import norm

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(norm.ppf(0.5 + confidence / 2))


def ppi_mean(
    human_labelled: Sequence[float],
    judge_labelled: Sequence[float],
    judge_unlabelled: Sequence[float],
    confidence: float = 0.95,
) -> Stat:
    """PPI estimate of the mean human score with its CLT interval (see the module docstring).

    ``n`` in the result is the number of labelled items; the unlabelled count is ``N``.
    """
    y = np.asarray(human_labelled, dtype=float)
    f_lab = np.asarray(judge_labelled, dtype=float)
    f_unl = np.asarray(judge_unlabelled, dtype=float)
    if y.shape != f_lab.shape:
        raise ValueError("human_labelled and judge_labelled must be aligned")
    n, n_unl = y.size, f_unl.size
    if n < 2 or n_unl < 2:
        raise ValueError(f"PPI needs >= 2 labelled and unlabelled items, got {n} and {n_unl}")
    rectifier = f_lab - y
    value = float(f_unl.mean() - rectifier.mean())
    se = math.sqrt(f_unl.var(ddof=1) / n_unl + rectifier.var(ddof=1) / n)
    half = normal_quantile(confidence) * se
    return {**ci(value, value - half, value + half, n), "N": int(n_unl), "se": se}


def classical_mean(human_labelled: Sequence[float], confidence: float = 0.95) -> Stat:
    """The human-only estimate: mean with its CLT interval."""
    y = np.asarray(human_labelled, dtype=float)
    if y.size < 2:
        raise ValueError("need at least 2 labelled items")
    se = float(y.std(ddof=1) / math.sqrt(y.size))
    half = normal_quantile(confidence) * se
    return {**ci(float(y.mean()), y.mean() - half, y.mean() + half, y.size), "se": se}


def ppi_from_subset(
    judge_all: Sequence[float], human_all: Sequence[float], confidence: float = 0.95
) -> dict[str, Stat]:
    """Mean human score over N judged items of which a random subset carries human scores.

    ``human_all`` has NaN on the items nobody rated. The labelled items give the rectifier, the
    others the judge term (kept disjoint so the two terms are independent). Returns ``ppi``,
    ``classical`` (labelled humans only) and ``judge_only`` (the raw judge mean over all
    items: biased whenever the judge is, shown for contrast; its interval is the CLT one).
    """
    f = np.asarray(judge_all, dtype=float)
    y = np.asarray(human_all, dtype=float)
    if f.shape != y.shape or not np.all(np.isfinite(f)):
        raise ValueError("judge_all must be finite and aligned with human_all")
    labelled = np.isfinite(y)
    return {
        "ppi": ppi_mean(y[labelled], f[labelled], f[~labelled], confidence),
        "classical": classical_mean(y[labelled], confidence),
        "judge_only": classical_mean(f, confidence),
    }
