"""Bootstrap intervals and the paired bootstrap test."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sacrebleu
from scipy import stats as scipy_stats

from evalharness.metrics import Metric, Outcome, get_metric, paired_bootstrap, summarize
from evalharness.metrics.stats import resample_counts

MEAN = Metric("mean", "generate", lambda outcomes: np.zeros((0, 2)), lambda s: s[0] / s[1])


def _rows(x: np.ndarray) -> np.ndarray:
    return np.column_stack([x, np.ones_like(x)])


def _normal(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc=0.3, scale=1.0, size=n)


def test_ci_contains_value_and_shrinks_with_data() -> None:
    small = summarize(MEAN, _rows(_normal(100)))
    large = summarize(MEAN, _rows(_normal(2000)))
    for agg, n in ((small, 100), (large, 2000)):
        assert agg.n == n and agg.ci_low < agg.value < agg.ci_high
    assert small.value == pytest.approx(_normal(100).mean())
    assert (large.ci_high - large.ci_low) < 0.5 * (small.ci_high - small.ci_low)
    # ≈ 2 * 1.96 * sd / sqrt(n)
    assert large.ci_high - large.ci_low == pytest.approx(2 * 1.96 / math.sqrt(2000), rel=0.15)


def test_deterministic_under_seed() -> None:
    rows = _rows(_normal(300))
    assert summarize(MEAN, rows, seed=3) == summarize(MEAN, rows, seed=3)
    assert summarize(MEAN, rows, seed=3) != summarize(MEAN, rows, seed=4)


def test_matches_explicit_loop_with_same_draws() -> None:
    x = _normal(50, seed=7)
    agg = summarize(MEAN, _rows(x), n_boot=500, confidence=0.9, seed=11)
    idx = np.random.default_rng(11).integers(0, 50, size=(500, 50))
    means = np.array([x[i].mean() for i in idx])
    low, high = np.percentile(means, [5.0, 95.0])
    assert (agg.ci_low, agg.ci_high) == pytest.approx((low, high), rel=1e-12)


def test_matches_scipy_percentile_bootstrap() -> None:
    x = _normal(200, seed=5)
    agg = summarize(MEAN, _rows(x), n_boot=5000)
    ref = scipy_stats.bootstrap(
        (x,), np.mean, method="percentile", n_resamples=5000, random_state=0
    ).confidence_interval
    # different random draws: Monte Carlo error of each endpoint is about 0.003
    assert agg.ci_low == pytest.approx(ref.low, abs=0.015)
    assert agg.ci_high == pytest.approx(ref.high, abs=0.015)


def test_resample_counts() -> None:
    counts = resample_counts(7, 1000, np.random.default_rng(0))
    assert counts.shape == (1000, 7) and np.all(counts.sum(axis=1) == 7)
    assert counts.mean() == pytest.approx(1.0) and counts.max() > 3
    # chunked draws for large n still give n draws per resample
    big = resample_counts(3_000_000, 3, np.random.default_rng(0))
    assert big.shape == (3, 3_000_000) and np.all(big.sum(axis=1) == 3_000_000)


def test_corpus_metrics_are_recomputed_at_corpus_level() -> None:
    """Each resample's perplexity is exp(-Σlp/Σtokens), not a mean of document perplexities."""
    rng = np.random.default_rng(2)
    tokens = rng.integers(1, 200, size=40).astype(float)
    logprob = -tokens * rng.uniform(1.0, 4.0, size=40)
    metric = get_metric("perplexity")
    agg = summarize(metric, np.column_stack([logprob, tokens]), n_boot=300, seed=9)
    assert agg.value == pytest.approx(math.exp(-logprob.sum() / tokens.sum()))
    idx = np.random.default_rng(9).integers(0, 40, size=(300, 40))
    corpus = [math.exp(-logprob[i].sum() / tokens[i].sum()) for i in idx]
    assert (agg.ci_low, agg.ci_high) == pytest.approx(tuple(np.percentile(corpus, [2.5, 97.5])))
    per_doc_means = [np.exp(-logprob[i] / tokens[i]).mean() for i in idx]
    assert agg.ci_high < np.percentile(per_doc_means, 97.5) - 1.0


def test_bleu_bootstrap_uses_sacrebleu_corpus_score() -> None:
    hyps = ["the cat sat on the mat", "a dog ran in the park", "hello there world", "it rains"]
    refs = ["the cat sat on a mat", "the dog ran in a park", "hello world", "it is raining"]
    hyps, refs = hyps * 5, refs * 5
    metric = get_metric("bleu")
    stats = metric.stats(
        [Outcome(prediction=h, references=(r,)) for h, r in zip(hyps, refs, strict=True)]
    )
    agg = summarize(metric, stats, n_boot=200, seed=1)
    assert agg.value == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    idx = np.random.default_rng(1).integers(0, 20, size=(200, 20))
    scorer = sacrebleu.BLEU()
    boot = [scorer._compute_score_from_stats(stats[i].sum(axis=0)).score for i in idx]
    assert (agg.ci_low, agg.ci_high) == pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])))


def test_degenerate_sizes() -> None:
    empty = summarize(MEAN, np.zeros((0, 2)))
    assert empty.n == 0 and all(math.isnan(v) for v in (empty.value, empty.ci_low, empty.ci_high))
    one = summarize(MEAN, np.array([[0.25, 1.0]]))
    assert (one.value, one.ci_low, one.ci_high, one.n) == (0.25, 0.25, 0.25, 1)
    with pytest.raises(ValueError, match="2-D"):
        summarize(MEAN, np.ones(3))
    with pytest.raises(ValueError, match="confidence"):
        summarize(MEAN, np.ones((3, 2)), confidence=95)


def test_paired_bootstrap_detects_a_clear_shift() -> None:
    a = _normal(200, seed=1)
    b = a + 0.2 + np.random.default_rng(8).normal(scale=0.3, size=200)
    result = paired_bootstrap(MEAN, _rows(a), _rows(b))
    assert result.delta == pytest.approx(b.mean() - a.mean())
    assert result.n == 200 and 0.0 < result.ci_low < result.delta < result.ci_high
    assert result.p_value < 0.05
    # pairing matters: the unpaired spread of a and b hides much of this shift
    assert result.ci_high - result.ci_low < 0.25


def test_paired_bootstrap_identical_and_null() -> None:
    rows = _rows(_normal(200))
    same = paired_bootstrap(MEAN, rows, rows.copy())
    assert (same.delta, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    # b = a plus noise centred to mean zero: per-sample changes but no difference overall
    noise = np.random.default_rng(4).normal(scale=0.5, size=200)
    noisy = _rows(_normal(200) + noise - noise.mean())
    null = paired_bootstrap(MEAN, rows, noisy)
    assert null.delta == pytest.approx(0.0) and null.p_value > 0.5
    assert null.ci_low < 0 < null.ci_high


def test_paired_bootstrap_edges() -> None:
    assert paired_bootstrap(MEAN, np.zeros((0, 2)), np.zeros((0, 2))).n == 0
    single = paired_bootstrap(MEAN, np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]))
    assert (single.delta, single.p_value) == (1.0, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap(MEAN, np.ones((3, 2)), np.ones((4, 2)))


def test_few_distinct_rows_resample_like_the_full_bootstrap(monkeypatch) -> None:
    """0/1 scores take the multinomial-over-distinct-rows path; its spread matches the
    plain row resampling and the analytic standard error, and pairs stay paired."""
    from evalharness.metrics import stats

    rng = np.random.default_rng(7)
    a = (rng.random(5000) < 0.3).astype(float)
    b = np.where(rng.random(5000) < 0.9, a, 1 - a)  # mostly the same answers
    matrices = [_rows(a), _rows(b)]
    assert stats._distinct_rows(matrices) is not None
    fast = stats.bootstrap_values(MEAN, matrices, 2000, seed=1)
    monkeypatch.setattr(stats, "_distinct_rows", lambda matrices: None)
    full = stats.bootstrap_values(MEAN, matrices, 2000, seed=1)
    se = math.sqrt(0.3 * 0.7 / 5000)
    assert np.std(fast[0]) == pytest.approx(se, rel=0.1)
    assert np.std(fast[0]) == pytest.approx(np.std(full[0]), rel=0.1)
    assert np.mean(fast[0]) == pytest.approx(a.mean(), abs=se / 5)
    diff_fast, diff_full = fast[1] - fast[0], full[1] - full[0]
    assert np.std(diff_fast) == pytest.approx(np.std(diff_full), rel=0.1)
    # paired: the shared answers cancel (unpaired would be about sqrt(2) * se = 0.009)
    assert np.std(diff_fast) == pytest.approx(np.std(b - a) / math.sqrt(5000), rel=0.1)


def test_many_distinct_rows_keep_the_full_bootstrap() -> None:
    from evalharness.metrics import stats

    assert stats._distinct_rows([_rows(_normal(5000))]) is None
    assert stats._distinct_rows([_rows(np.ones(40))]) is None  # too few rows to bother
    assert stats._distinct_rows([_rows(np.array([1.0, np.nan] * 100))]) is None


def test_chunked_resamples_are_the_draws_in_turn() -> None:
    """Many rows take several chunks of resamples, the next drawn in a thread while one is
    summed: the values are those of drawing every chunk in turn from the seed."""
    from evalharness.metrics import stats

    n, n_boot = 20_000, 500  # 10M cells: three chunks
    x, y = _normal(n, seed=3), _normal(n, seed=4)
    fast_x, fast_y = stats.bootstrap_values(MEAN, [_rows(x), _rows(y)], n_boot, seed=5)
    rng, chunk = np.random.default_rng(5), stats._MAX_CELLS // n
    drawn = np.vstack([rng.integers(0, n, size=(min(chunk, n_boot - s), n))
                       for s in range(0, n_boot, chunk)])  # fmt: skip
    assert len(range(0, n_boot, chunk)) == 3
    np.testing.assert_allclose(fast_x, x[drawn].mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(fast_y, y[drawn].mean(axis=1), rtol=1e-12)
