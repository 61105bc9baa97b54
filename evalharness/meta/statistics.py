"""The statistics behind meta-evaluation: point values from libraries, batched bootstrap values.

Point estimates call scipy (``pearsonr``, ``spearmanr``, ``kendalltau`` tau-b), scikit-learn
(``cohen_kappa_score``) and ``krippendorff.alpha``. Bootstrap resamples are computed in batches
(rows of an ``(m, n)`` array are resamples): scipy's batched ``pearsonr``/``rankdata``, Kendall's
tau-b from each resample's table of counts on a rating scale (else pair signs or a loop of
``kendalltau``), a loop of ``krippendorff.alpha``, and, for kappas, scikit-learn's
confusion-matrix formula vectorised over resamples (tests check these against the libraries,
resample by resample). Every statistic is reported as ``{"value", "ci_low", "ci_high", "n"}``
with a 95% percentile interval.

Missing values are NaN (numbers) or None (labels); numbers that are all whole and take at most
``MAX_LEVELS`` distinct values, or labels, form a *discrete* scale (see ``is_discrete``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Stat = dict[str, float]
BatchFn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (m, n) resampled x, y -> (m,)

MAX_LEVELS = 11
CORRELATIONS = ("pearson", "spearman", "kendall")
WEIGHTS = {"cohen_kappa": None, "linear_kappa": "linear", "quadratic_kappa": "quadratic"}
_MAX_CELLS = 1 << 22  # resampled values held at once
_PAIRWISE_MAX = 64  # longest row for the vectorised Kendall tau-b
_SCALE_CELLS = 400  # level pairs (e.g. 20 x 20) for Kendall tau-b from counts


def ci(value: float, low: float, high: float, n: int) -> Stat:
    return {"value": float(value), "ci_low": float(low), "ci_high": float(high), "n": int(n)}


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    alpha = 1.0 - confidence
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a library statistic, silencing its constant-input / undefined warnings (-> NaN)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# input handling


def as_values(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Floats with NaN for missing, or an object array of labels (None for missing)."""
    arr = np.asarray(values, dtype=object).ravel()
    missing = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in arr])
    try:
        out = np.where(missing, np.nan, arr).astype(float)
    except (TypeError, ValueError):
        out = np.where(missing, None, arr.astype(str)).astype(object)
    return out


def is_labels(arr: np.ndarray) -> bool:
    return arr.dtype == object


def present(arr: np.ndarray) -> np.ndarray:
    return np.array([v is not None for v in arr]) if is_labels(arr) else np.isfinite(arr)


def is_discrete(*arrays: np.ndarray) -> bool:
    """True for labels, or whole numbers with at most ``MAX_LEVELS`` distinct values overall."""
    if any(is_labels(a) for a in arrays):
        return True
    values = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if values.size == 0 or not np.all(values == np.round(values)):
        return False
    return len(np.unique(values)) <= MAX_LEVELS


def levels(*arrays: np.ndarray) -> list[Any]:
    """The label set: every integer from min to max for numbers, sorted labels otherwise."""
    if any(is_labels(a) for a in arrays):
        return sorted({str(v) for a in arrays for v in a if v is not None})
    values = np.concatenate([a[np.isfinite(a)] for a in arrays])
    return list(range(int(values.min()), int(values.max()) + 1))


def codes(arr: np.ndarray, label_set: Sequence[Any]) -> np.ndarray:
    index = {(str(v) if isinstance(v, str) else v): i for i, v in enumerate(label_set)}
    if is_labels(arr):
        return np.array([index[str(v)] for v in arr], dtype=np.int64)
    return np.array([index[int(v)] for v in arr], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# point statistics (library calls)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import pearsonr

    return float(_quiet(pearsonr, x, y).statistic) if len(x) > 1 else math.nan


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(_quiet(spearmanr, x, y).statistic) if len(x) > 1 else math.nan


def kendall(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall tau-b."""
    from scipy.stats import kendalltau

    return float(_quiet(kendalltau, x, y).statistic) if len(x) > 1 else math.nan


CORRELATION_FNS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "pearson": pearson,
    "spearman": spearman,
    "kendall": kendall,
}


def cohen_kappa(
    x: Sequence[Any],
    y: Sequence[Any],
    weights: str | None = None,
    labels: Sequence[Any] | None = None,
) -> float:
    """scikit-learn's Cohen's kappa on the items both rated (weights None/linear/quadratic)."""
    from sklearn.metrics import cohen_kappa_score

    a, b = as_values(x), as_values(y)
    keep = present(a) & present(b)
    a, b = a[keep], b[keep]
    if a.size == 0:
        return math.nan
    label_set = list(labels) if labels is not None else levels(a, b)
    ca, cb = codes(a, label_set), codes(b, label_set)
    return float(
        _quiet(cohen_kappa_score, ca, cb, labels=list(range(len(label_set))), weights=weights)
    )


def krippendorff_alpha(data: Any, level: str = "interval") -> float:
    """Krippendorff's alpha of a (items x raters) table, NaN/None = missing (``krippendorff``).

    Any number of raters; ``level`` is ``nominal``, ``ordinal``, ``interval`` or ``ratio``.
    Labels (strings) are coded as integers first, which is only meaningful for ``nominal``.
    """
    import krippendorff

    table = np.asarray(data)
    if table.ndim != 2:
        raise ValueError(f"expected an (items, raters) table, got shape {table.shape}")
    if table.dtype.kind in "biuf":
        matrix = table.astype(float).T  # raters x items, as krippendorff expects
    else:
        columns = [as_values(table[:, j]) for j in range(table.shape[1])]
        if any(is_labels(c) for c in columns):
            label_set = levels(*columns)
            columns = [
                np.array([np.nan if v is None else label_set.index(str(v)) for v in c])
                for c in columns
            ]
        matrix = np.vstack(columns).astype(float)
    pairable = (np.isfinite(matrix).sum(axis=0) >= 2).sum()
    values = matrix[np.isfinite(matrix)]
    if pairable == 0 or len(np.unique(values)) < 2:
        return math.nan
    return float(_quiet(krippendorff.alpha, reliability_data=matrix, level_of_measurement=level))


# ---------------------------------------------------------------------------------------------
# batched statistics for bootstrap resamples: rows of x and y are resamples


def _batch_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import pearsonr

    return np.asarray(_quiet(pearsonr, x, y, axis=1).statistic, dtype=float)


def _batch_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return _batch_pearson(rankdata(x, axis=1), rankdata(y, axis=1))


def _batch_kendall(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall tau-b per row, ``(P - Q) / sqrt((n0 - ties_x) * (n0 - ties_y))``: ratings on a
    scale (few distinct values) from each row's table of counts; short rows (system level, a
    few dozen systems) from their pair signs; other rows by scipy, one call each. The first
    two do all resamples at once, where scipy's per-call overhead would dominate."""
    scale = _scale_counts(x, y)
    if scale is not None:
        return _kendall_from_counts(*scale)
    if x.shape[1] > _PAIRWISE_MAX:
        return np.array([kendall(a, b) for a, b in zip(x, y, strict=True)])
    n = x.shape[1]
    upper = np.triu_indices(n, k=1)
    dx = np.sign(x[:, :, None] - x[:, None, :])[:, upper[0], upper[1]]
    dy = np.sign(y[:, :, None] - y[:, None, :])[:, upper[0], upper[1]]
    n0 = n * (n - 1) / 2
    with np.errstate(all="ignore"):
        denom = np.sqrt((n0 - (dx == 0).sum(axis=1)) * (n0 - (dy == 0).sum(axis=1)))
        return np.where(denom > 0, (dx * dy).sum(axis=1) / denom, np.nan)


def _scale_counts(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Each row's table of counts of (x level, y level), shape (rows, levels of x, levels of
    y), when the values are finite and span at most ``_SCALE_CELLS`` level pairs."""
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    levels_x, code_x = np.unique(x, return_inverse=True)
    levels_y, code_y = np.unique(y, return_inverse=True)
    kx, ky = len(levels_x), len(levels_y)
    if kx * ky > _SCALE_CELLS:
        return None
    m, n = x.shape
    flat = np.arange(m)[:, None] * (kx * ky) + code_x.reshape(m, n) * ky + code_y.reshape(m, n)
    counts = np.bincount(flat.ravel(), minlength=m * kx * ky).reshape(m, kx, ky)
    return counts.astype(float), n


def _kendall_from_counts(counts: np.ndarray, n: int) -> np.ndarray:
    """Tau-b of each table: every cell's count times the cells below it to the right
    (concordant) less those below it to the left (discordant), from cumulative sums."""
    below = np.flip(np.cumsum(np.flip(counts, axis=1), axis=1), axis=1) - counts  # rows > i
    left_or_at = np.cumsum(below, axis=2)  # rows > i, columns <= j
    right = left_or_at[:, :, -1:] - left_or_at  # columns > j
    left = left_or_at - below  # columns < j
    s = (counts * (right - left)).sum(axis=(1, 2))
    n0 = n * (n - 1) / 2
    rows, columns = counts.sum(axis=2), counts.sum(axis=1)
    ties_x = (rows * (rows - 1) / 2).sum(axis=1)
    ties_y = (columns * (columns - 1) / 2).sum(axis=1)
    with np.errstate(all="ignore"):
        denom = np.sqrt((n0 - ties_x) * (n0 - ties_y))
        return np.where(denom > 0, s / denom, np.nan)


BATCH_CORRELATIONS: dict[str, BatchFn] = {
    "pearson": _batch_pearson,
    "spearman": _batch_spearman,
    "kendall": _batch_kendall,
}


def batch_kappa(x: np.ndarray, y: np.ndarray, k: int, weights: str | None = None) -> np.ndarray:
    """Cohen's kappa per row of integer codes in ``range(k)`` (scikit-learn's formula)."""
    m, n = x.shape
    flat = (np.arange(m)[:, None] * k * k + x * k + y).ravel()
    confusion = np.bincount(flat, minlength=m * k * k).reshape(m, k, k).astype(float)
    expected = confusion.sum(axis=2)[:, :, None] * confusion.sum(axis=1)[:, None, :] / n
    grid = np.arange(k)
    if weights is None:
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(grid[:, None] - grid[None, :]).astype(float)
    else:
        w = ((grid[:, None] - grid[None, :]) ** 2).astype(float)
    observed = (w * confusion).sum(axis=(1, 2))
    chance = (w * expected).sum(axis=(1, 2))
    with np.errstate(all="ignore"):
        return np.where(chance > 0, 1.0 - observed / chance, np.nan)


def column_means(stacked: np.ndarray) -> np.ndarray:
    """Mean of each column over its finite entries; NaN (without a warning) where none are."""
    stacked = np.atleast_2d(np.asarray(stacked, dtype=float))
    out = np.full(stacked.shape[1], np.nan)
    ok = np.isfinite(stacked).any(axis=0)
    out[ok] = np.nanmean(stacked[:, ok], axis=0)
    return out


def bootstrap_values(
    fns: dict[str, BatchFn], x: np.ndarray, y: np.ndarray, n_boot: int, seed: int
) -> dict[str, np.ndarray]:
    """Each batched statistic on the same ``n_boot`` item resamples of the aligned x and y."""
    n = len(x)
    rng = np.random.default_rng(seed)
    values = {name: np.empty(n_boot) for name in fns}
    chunk = max(1, _MAX_CELLS // max(n, 1))
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(m, n))
        xb, yb = x[idx], y[idx]
        for name, fn in fns.items():
            values[name][start : start + m] = fn(xb, yb)
    return values


def bootstrap(
    fns: dict[str, BatchFn], x: np.ndarray, y: np.ndarray, n_boot: int, seed: int
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of each batched statistic over the same item resamples."""
    values = bootstrap_values(fns, x, y, n_boot, seed)
    return {name: percentile_interval(v) for name, v in values.items()}


def mean_ci(indicator: Sequence[float], n_boot: int = 1000, seed: int = 0) -> Stat:
    """Mean of per-item values with a percentile-bootstrap CI (items resampled)."""
    values = np.asarray(indicator, dtype=float)
    if values.size == 0:
        return ci(math.nan, math.nan, math.nan, 0)
    (low, high) = bootstrap({"m": lambda a, _b: a.mean(axis=1)}, values, values, n_boot, seed)["m"]
    return ci(float(values.mean()), low, high, values.size)
