"""Agreement of a judge (or metric) with humans, and of humans with each other, with bootstrap CIs.

Every statistic comes back as ``{"value", "ci_low", "ci_high", "n"}``: the point estimate from
scipy / scikit-learn / ``krippendorff`` on all the data, and a 95% percentile-bootstrap
interval. Three levels (the standard meta-evaluation protocols):

- **item**: one pair (judge, human) per item; resample items.
- **summary**: within each group (document, prompt) correlate the judge with the humans across
  the group's items (its systems' outputs), then average over groups, skipping groups with
  fewer than two items or where either side is constant; resample groups. ``n`` is the number of
  groups that count.
- **system**: correlate per-system mean scores; resample groups (all of a group's items move
  together, keeping systems paired) or, without groups, items. ``n`` is the number of systems.

Correlations are Pearson, Spearman and Kendall tau-b (scipy's default variant, which corrects
for ties). Where the scale is discrete, the item level adds exact and adjacent (within one
step) agreement, Cohen's kappa (unweighted, linear, quadratic) and Krippendorff's alpha.
*Discrete* means: both sides are labels (strings), or every value is a whole number and there
are at most ``MAX_LEVELS`` (11) distinct values over both sides (a 1-5 or 0-10 scale; means of
several raters such as 2.33 are not discrete). Kappas use every integer between the smallest and
largest value as the label set, so weights follow the scale's distances; alpha on a numeric
discrete scale is ordinal, on labels nominal. Labels give only the nominal statistics.

Bootstrap resamples use scipy's batched ``pearsonr``/``rankdata``, Kendall's tau-b from each
resample's table of counts on a rating scale (else a loop of ``kendalltau``), a loop of
``krippendorff.alpha``, and, for kappas, the confusion-matrix formula that scikit-learn uses,
vectorised over resamples (tests check it against ``cohen_kappa_score`` resample by resample).

Note: ``evalharness.meta.agreement`` is the function below; import helpers from this module with
``from evalharness.meta.agreement import cohen_kappa``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evalharness.meta.statistics import (
    BATCH_CORRELATIONS,
    CORRELATION_FNS,
    CORRELATIONS,
    WEIGHTS,
    BatchFn,
    Stat,
    as_values,
    batch_kappa,
    bootstrap,
    bootstrap_values,
    ci,
    codes,
    cohen_kappa,
    column_means,
    is_discrete,
    is_labels,
    krippendorff_alpha,
    levels,
    percentile_interval,
    present,
)

# ---------------------------------------------------------------------------------------------
# the three levels


def _pairs(judge: Any, human: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    j, h = as_values(judge), as_values(human)
    if j.shape != h.shape:
        raise ValueError(f"judge and human scores differ in length: {j.size} vs {h.size}")
    keep = present(j) & present(h)
    return j, h, keep


def item_level(judge: Any, human: Any, n_boot: int = 1000, seed: int = 0) -> dict[str, Stat]:
    """Item-level statistics on the items both sides scored (see the module docstring)."""
    j_all, h_all, keep = _pairs(judge, human)
    j, h = j_all[keep], h_all[keep]
    n = int(keep.sum())
    points: dict[str, float] = {}
    fns: dict[str, BatchFn] = {}
    labels = is_labels(j) or is_labels(h)
    if labels and not (is_labels(j) and is_labels(h)):
        j, h = j.astype(str).astype(object), h.astype(str).astype(object)
    if not labels:
        for name in CORRELATIONS:
            points[name] = CORRELATION_FNS[name](j, h)
            fns[name] = BATCH_CORRELATIONS[name]
    if n and is_discrete(j, h):
        label_set = levels(j, h)
        k = len(label_set)
        cj, ch = codes(j, label_set), codes(h, label_set)
        points["exact_agreement"] = float(np.mean(cj == ch))
        fns["exact_agreement"] = lambda a, b: (a == b).mean(axis=1)
        kappas = {"cohen_kappa": None} if labels else WEIGHTS
        if not labels:
            points["adjacent_agreement"] = float(np.mean(np.abs(cj - ch) <= 1))
            fns["adjacent_agreement"] = lambda a, b: (np.abs(a - b) <= 1).mean(axis=1)
        for name, weights in kappas.items():
            points[name] = cohen_kappa(cj, ch, weights=weights, labels=range(k))
            fns[name] = lambda a, b, w=weights: batch_kappa(a, b, k, w)
        level = "nominal" if labels else "ordinal"
        points["krippendorff_alpha"] = krippendorff_alpha(np.c_[cj, ch], level)
        fns["krippendorff_alpha"] = lambda a, b: np.array(
            [krippendorff_alpha(np.c_[r, s], level) for r, s in zip(a, b, strict=True)]
        )
        j, h = cj, ch
    if n < 2:
        return {name: ci(v, v, v, n) for name, v in points.items()}
    intervals = bootstrap(fns, np.asarray(j), np.asarray(h), n_boot, seed)
    return {name: ci(points[name], *intervals[name], n) for name in points}


def _group_index(groups: Any, n: int) -> tuple[np.ndarray, int]:
    labels = np.asarray(groups, dtype=object).ravel()
    if labels.size != n:
        raise ValueError(f"groups/systems have {labels.size} entries for {n} scores")
    _, index = np.unique(labels.astype(str), return_inverse=True)
    return index, int(index.max()) + 1 if n else 0


def summary_level(
    judge: Any, human: Any, groups: Any, n_boot: int = 1000, seed: int = 0
) -> dict[str, Stat]:
    """Correlations within each group, averaged over groups; groups resampled for the CI."""
    from evalharness.metrics.stats import resample_counts

    j_all, h_all, keep = _pairs(judge, human)
    if is_labels(j_all) or is_labels(h_all):
        raise ValueError("summary-level correlations need numeric scores")
    index, n_groups = _group_index(groups, len(j_all))
    per_group: dict[str, list[float]] = {name: [] for name in CORRELATIONS}
    for g in range(n_groups):
        mask = keep & (index == g)
        j, h = j_all[mask], h_all[mask]
        if j.size < 2 or np.ptp(j) == 0 or np.ptp(h) == 0:
            continue
        for name in CORRELATIONS:
            per_group[name].append(CORRELATION_FNS[name](j, h))
    out: dict[str, Stat] = {}
    rng = np.random.default_rng(seed)
    n_valid = len(per_group["pearson"])
    counts = resample_counts(n_valid, n_boot, rng).astype(float) if n_valid > 1 else None
    for name, values in per_group.items():
        arr = np.asarray(values, dtype=float)
        if arr.size == 0:
            out[name] = ci(math.nan, math.nan, math.nan, 0)
            continue
        value = float(np.mean(arr))
        if counts is None:
            out[name] = ci(value, value, value, arr.size)
            continue
        out[name] = ci(value, *percentile_interval(counts @ arr / arr.size), arr.size)
    return out


def system_level(
    judge: Any, human: Any, systems: Any, groups: Any = None, n_boot: int = 1000, seed: int = 0
) -> dict[str, Stat]:
    """Correlations of per-system means; groups (or items) resampled for the CI."""
    from evalharness.metrics.stats import resample_counts

    j_all, h_all, keep = _pairs(judge, human)
    if is_labels(j_all) or is_labels(h_all):
        raise ValueError("system-level correlations need numeric scores")
    s_index, n_sys = _group_index(systems, len(j_all))
    if groups is None:
        c_index, n_clusters = np.arange(len(j_all)), len(j_all)
    else:
        c_index, n_clusters = _group_index(groups, len(j_all))
    s_index, c_index = s_index[keep], c_index[keep]
    j, h = j_all[keep], h_all[keep]
    shape = (n_clusters, n_sys)
    sums_j, sums_h, counts = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    np.add.at(sums_j, (c_index, s_index), j)
    np.add.at(sums_h, (c_index, s_index), h)
    np.add.at(counts, (c_index, s_index), 1.0)
    seen = counts.sum(axis=0) > 0
    sums_j, sums_h, counts = sums_j[:, seen], sums_h[:, seen], counts[:, seen]
    n_systems = int(seen.sum())
    mean_j, mean_h = sums_j.sum(0) / counts.sum(0), sums_h.sum(0) / counts.sum(0)
    points = {name: CORRELATION_FNS[name](mean_j, mean_h) for name in CORRELATIONS}
    if n_systems < 3 or n_clusters < 2:
        return {name: ci(v, v, v, n_systems) for name, v in points.items()}
    w = resample_counts(n_clusters, n_boot, np.random.default_rng(seed)).astype(float)
    with np.errstate(all="ignore"):
        boot_n = w @ counts
        boot_j, boot_h = (w @ sums_j) / boot_n, (w @ sums_h) / boot_n
    complete = np.all(boot_n > 0, axis=1)  # a resample that lost a system is not comparable
    boot_j, boot_h = boot_j[complete], boot_h[complete]
    out = {}
    for name in CORRELATIONS:
        values = BATCH_CORRELATIONS[name](boot_j, boot_h) if len(boot_j) else np.array([])
        out[name] = ci(points[name], *percentile_interval(values), n_systems)
    return out


def agreement(
    judge_scores: Any,
    human_scores: Any,
    groups: Any = None,
    systems: Any = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, Stat]]:
    """Judge-vs-human agreement at item level, and at summary / system level when given.

    ``judge_scores`` and ``human_scores`` are aligned sequences (NaN or None = not rated; such
    items are skipped pairwise). ``groups`` (document ids) adds ``"summary"``; ``systems``
    (system ids) adds ``"system"``, whose bootstrap resamples groups when those are given.
    Returns ``{"item": {stat: {"value", "ci_low", "ci_high", "n"}}, "summary": ..., "system":
    ...}`` with ``pearson``, ``spearman``, ``kendall`` (numeric scores) and, on a discrete scale
    (see the module docstring), ``exact_agreement``, ``adjacent_agreement``, ``cohen_kappa``,
    ``linear_kappa``, ``quadratic_kappa`` and ``krippendorff_alpha`` at item level.
    """
    out = {"item": item_level(judge_scores, human_scores, n_boot, seed)}
    if groups is not None:
        out["summary"] = summary_level(judge_scores, human_scores, groups, n_boot, seed)
    if systems is not None:
        out["system"] = system_level(judge_scores, human_scores, systems, groups, n_boot, seed)
    return out


def inter_annotator(
    ratings: Any, level: str | None = None, n_boot: int = 1000, seed: int = 0
) -> dict[str, Stat]:
    """Agreement among several human raters: the ceiling a judge is compared with.

    ``ratings`` is an (items x raters) table (a DataFrame with one column per rater, or an
    array); NaN/None = that rater did not rate the item. Returns

    - ``krippendorff_alpha`` at ``level`` (default: nominal for labels, ordinal for a discrete
      numeric scale, interval otherwise), CI over resampled items;
    - numeric ratings: ``loo_pearson`` / ``loo_spearman`` / ``loo_kendall``, each rater against
      the mean of the *other* raters on the items both sides have, averaged over raters: the
      number to set beside a judge's correlation with the mean human score;
    - a discrete scale: ``cohen_kappa`` and (numbers) ``quadratic_kappa``, averaged over rater
      pairs, each pair on the items both rated.

    ``n`` is the number of items rated by at least two raters. Pair / rater CIs come from
    independent item resamples per pair / rater, averaged resample by resample.
    """
    table = np.asarray(ratings.to_numpy() if hasattr(ratings, "to_numpy") else ratings, object)
    columns = [as_values(table[:, j]) for j in range(table.shape[1])]
    labels = any(is_labels(c) for c in columns)
    if labels:
        columns = [np.array([None if v is None else str(v) for v in c], object) for c in columns]
    discrete = is_discrete(*columns)
    if level is None:
        level = "nominal" if labels else ("ordinal" if discrete else "interval")
    mask = np.column_stack([present(c) for c in columns])
    n = int((mask.sum(axis=1) >= 2).sum())
    if labels or discrete:
        label_set = levels(*columns)
        numeric = np.column_stack(
            [np.where(mask[:, j], 0, np.nan) for j in range(len(columns))]
        ).astype(float)
        for j, c in enumerate(columns):
            numeric[mask[:, j], j] = codes(c[mask[:, j]], label_set)
    else:
        numeric = np.column_stack(columns).astype(float)
    rng = np.random.default_rng(seed)
    alpha_boot = [
        krippendorff_alpha(numeric[rng.integers(0, len(numeric), len(numeric))], level)
        for _ in range(n_boot)
    ]
    out = {
        "krippendorff_alpha": ci(
            krippendorff_alpha(numeric, level), *percentile_interval(np.array(alpha_boot)), n
        )
    }
    fns: dict[str, BatchFn] = {}
    sides: list[tuple[np.ndarray, np.ndarray]] = []
    if not labels:
        for r in range(numeric.shape[1]):
            others = np.delete(numeric, r, axis=1)
            rated = np.isfinite(others).any(axis=1)
            rest = np.full(len(others), np.nan)
            rest[rated] = np.nanmean(others[rated], axis=1)
            keep = np.isfinite(numeric[:, r]) & np.isfinite(rest)
            sides.append((numeric[keep, r], rest[keep]))
        fns = {f"loo_{name}": BATCH_CORRELATIONS[name] for name in CORRELATIONS}
        points = {f"loo_{name}": CORRELATION_FNS[name] for name in CORRELATIONS}
        out.update(_averaged(sides, fns, points, n, n_boot, seed))
    if labels or discrete:
        k = len(levels(*columns))
        kappas = (
            {"cohen_kappa": None}
            if labels
            else {"cohen_kappa": None, "quadratic_kappa": "quadratic"}
        )
        sides = []
        for a in range(numeric.shape[1]):
            for b in range(a + 1, numeric.shape[1]):
                keep = np.isfinite(numeric[:, a]) & np.isfinite(numeric[:, b])
                sides.append((numeric[keep, a].astype(int), numeric[keep, b].astype(int)))
        fns = {name: (lambda x, y, w=w: batch_kappa(x, y, k, w)) for name, w in kappas.items()}
        points = {
            name: (lambda x, y, w=w: cohen_kappa(x, y, weights=w, labels=range(k)))
            for name, w in kappas.items()
        }
        out.update(_averaged(sides, fns, points, n, n_boot, seed))
    return out


def _averaged(
    sides: list[tuple[np.ndarray, np.ndarray]],
    fns: dict[str, BatchFn],
    points: dict[str, Any],
    n: int,
    n_boot: int,
    seed: int,
) -> dict[str, Stat]:
    """Each statistic averaged over (x, y) sides, with resample-by-resample averaged CIs."""
    sides = [(x, y) for x, y in sides if len(x) >= 2]
    if not sides:
        return {name: ci(math.nan, math.nan, math.nan, n) for name in fns}
    values = {name: [points[name](x, y) for x, y in sides] for name in fns}
    boots = [bootstrap_values(fns, x, y, n_boot, seed + i) for i, (x, y) in enumerate(sides)]
    out = {}
    for name in fns:
        averaged = column_means(np.vstack([b[name] for b in boots]))
        value = float(column_means(np.array(values[name])[:, None])[0])
        out[name] = ci(value, *percentile_interval(averaged), n)
    return out
