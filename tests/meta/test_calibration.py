"""Isotonic calibration with cross-fitting, confusion matrices, prediction-powered inference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import GroupKFold, KFold

from evalharness.meta.calibration import (
    calibrate,
    classical_mean,
    confusion,
    isotonic_cv,
    ppi_from_subset,
    ppi_mean,
    round_to_scale,
)


def _judge_and_human(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    human = rng.integers(1, 6, n).astype(float)
    judge = 1 / (1 + np.exp(-(human - 3) + rng.normal(0, 0.8, n)))  # 0-1, monotone, noisy
    return judge, human


def test_isotonic_cv_is_out_of_fold() -> None:
    judge, human = _judge_and_human()
    judge[5] = math.nan
    out = isotonic_cv(judge, human, k=5, seed=3)
    keep = np.flatnonzero(np.isfinite(judge))
    assert math.isnan(out[5]) and np.isfinite(out[keep]).all()
    for train, test in KFold(5, shuffle=True, random_state=3).split(keep):
        ref = IsotonicRegression(out_of_bounds="clip").fit(judge[keep[train]], human[keep[train]])
        np.testing.assert_allclose(out[keep[test]], ref.predict(judge[keep[test]]))
    # an item's own human score never reaches its calibrated score
    changed = human.copy()
    changed[0] = 1.0 if human[0] != 1.0 else 5.0
    assert isotonic_cv(judge, changed, k=5, seed=3)[0] == out[0]


def test_group_folds_keep_documents_together() -> None:
    judge, human = _judge_and_human(300)
    groups = np.repeat(np.arange(30), 10)
    out = isotonic_cv(judge, human, k=5, groups=groups)
    for train, test in GroupKFold(5).split(np.arange(300), groups=groups.astype(str)):
        assert not set(groups[train]) & set(groups[test])
        ref = IsotonicRegression(out_of_bounds="clip").fit(judge[train], human[train])
        np.testing.assert_allclose(out[test], ref.predict(judge[test]))


def test_calibrate_reports_out_of_sample_skill_and_confusion() -> None:
    judge, human = _judge_and_human(500)
    out = calibrate(judge, human, n_boot=100)
    assert out["mae"]["value"] < out["mae_baseline"]["value"]
    assert out["mae"]["value"] == pytest.approx(np.mean(np.abs(out["calibrated"] - human)))
    assert set(out["rounded"]) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    ref = confusion_matrix(human.astype(int), out["rounded"].astype(int), labels=[1, 2, 3, 4, 5])
    np.testing.assert_array_equal(out["confusion"].to_numpy(), ref)
    assert out["rounded_agreement"]["quadratic_kappa"]["value"] > 0.5
    # a useless judge gains nothing out of sample (no overfitting passed off as skill)
    noise = np.random.default_rng(9).random(500)
    useless = calibrate(noise, human, n_boot=50)
    assert useless["mae"]["value"] >= useless["mae_baseline"]["value"] - 0.05


def test_confusion_and_rounding_helpers() -> None:
    frame = confusion(
        ["1", "2", "tie", None, "1"], ["1", "1", "tie", "2", "2"], labels=["1", "2", "tie"]
    )
    assert frame.loc["1", "1"] == 1 and frame.loc["1", "2"] == 1 and frame.loc["2", "1"] == 1
    assert int(frame.to_numpy().sum()) == 4
    np.testing.assert_array_equal(
        round_to_scale(np.array([0.2, 2.6, math.nan, 9]), [1, 2, 3]), [1, 3, math.nan, 3]
    )


def test_ppi_formula() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    f_lab = y + 0.3 + rng.normal(0, 0.2, 50)
    f_unl = rng.normal(0.3, 1, 500)
    out = ppi_mean(y, f_lab, f_unl)
    rect = f_lab - y
    assert out["value"] == pytest.approx(f_unl.mean() - rect.mean())
    se = math.sqrt(f_unl.var(ddof=1) / 500 + rect.var(ddof=1) / 50)
    assert out["ci_high"] - out["value"] == pytest.approx(1.959964 * se, rel=1e-5)
    assert out["n"] == 50 and out["N"] == 500
    classical = classical_mean(y)
    assert classical["value"] == pytest.approx(y.mean())
    with pytest.raises(ValueError, match="PPI needs >= 2 labelled and unlabelled items, got 1"):
        ppi_mean(y[:1], f_lab[:1], f_unl)


def test_ppi_coverage_and_width_by_simulation() -> None:
    """2,000 simulated runs of 500 judged samples, people rating a random 20% (100): PPI's 95%
    interval covers the true mean in 93-97% of them and is narrower than the people-only
    interval; the biased judge alone almost never covers it."""
    rng = np.random.default_rng(2024)
    n_sims, big_n, n = 2000, 500, 100
    truth = 3.0
    covered = {"ppi": 0, "classical": 0, "judge_only": 0}
    widths: dict[str, list[float]] = {"ppi": [], "classical": []}
    for _ in range(n_sims):
        human = truth + rng.normal(0, 1, big_n)
        judge = 0.8 * human + 1.0 + rng.normal(0, 0.3, big_n)  # biased: mean 3.4, corr ~0.94
        labelled = rng.choice(big_n, n, replace=False)
        partial = np.full(big_n, np.nan)
        partial[labelled] = human[labelled]
        out = ppi_from_subset(judge, partial)
        for name in covered:
            covered[name] += out[name]["ci_low"] <= truth <= out[name]["ci_high"]
        for name in widths:
            widths[name].append(out[name]["ci_high"] - out[name]["ci_low"])
    assert 0.93 <= covered["ppi"] / n_sims <= 0.97
    assert 0.93 <= covered["classical"] / n_sims <= 0.97
    assert covered["judge_only"] / n_sims < 0.05
    assert np.mean(widths["ppi"]) < 0.75 * np.mean(widths["classical"])


def test_ppi_from_subset_rejects_misaligned_input() -> None:
    with pytest.raises(ValueError, match="judge_all must be finite and aligned"):
        ppi_from_subset([1.0, math.nan], [1.0, 2.0])
