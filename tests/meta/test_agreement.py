"""Agreement statistics against scipy / scikit-learn / krippendorff, on hand-made and real data."""

from __future__ import annotations

import ast
import json
import math

import krippendorff
import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import cohen_kappa_score

import evalharness.meta
from evalharness.meta import pairwise
from evalharness.meta.agreement import inter_annotator, item_level, summary_level, system_level
from evalharness.meta.statistics import (
    _batch_kendall,
    _scale_counts,
    batch_kappa,
    is_discrete,
    krippendorff_alpha,
    mean_ci,
)
from tests.support.helpers import data_lines, data_text

NAN = math.nan


def _check_ci(stat: dict, n: int) -> None:
    assert set(stat) == {"value", "ci_low", "ci_high", "n"}
    assert stat["n"] == n
    assert stat["ci_low"] <= stat["value"] <= stat["ci_high"]


def test_public_api_is_the_function_with_all_levels() -> None:
    rng = np.random.default_rng(0)
    human = rng.normal(size=60)
    judge = human + rng.normal(size=60)
    out = evalharness.meta.agreement(
        judge, human, groups=np.repeat(range(10), 6), systems=np.tile(range(6), 10), n_boot=100
    )
    assert set(out) == {"item", "summary", "system"}
    assert set(out["item"]) == {"pearson", "spearman", "kendall"}  # continuous: no kappas
    assert out["summary"]["pearson"]["n"] == 10 and out["system"]["kendall"]["n"] == 6
    assert set(evalharness.meta.agreement(judge, human, n_boot=10)) == {"item"}


def test_item_level_matches_libraries_with_missing_and_ties() -> None:
    judge = np.array([1, 2, 2, 3, 5, NAN, 4, 4, 1, 3, 2, 5, 5, 3], dtype=float)
    human = np.array([1, 2, 3, 3, 4, 2, NAN, 5, 2, 3, 1, 5, 4, 3], dtype=float)
    keep = np.isfinite(judge) & np.isfinite(human)
    j, h = judge[keep], human[keep]
    out = item_level(judge, human, n_boot=300)
    assert out["pearson"]["value"] == pytest.approx(sps.pearsonr(j, h).statistic)
    assert out["spearman"]["value"] == pytest.approx(sps.spearmanr(j, h).statistic)
    assert out["kendall"]["value"] == pytest.approx(sps.kendalltau(j, h).statistic)  # tau-b
    labels = [1, 2, 3, 4, 5]
    for name, weights in (
        ("cohen_kappa", None),
        ("linear_kappa", "linear"),
        ("quadratic_kappa", "quadratic"),
    ):
        ref = cohen_kappa_score(j, h, labels=labels, weights=weights)
        assert out[name]["value"] == pytest.approx(ref), name
    ref_alpha = krippendorff.alpha(np.vstack([j, h]), level_of_measurement="ordinal")
    assert out["krippendorff_alpha"]["value"] == pytest.approx(ref_alpha)
    assert out["exact_agreement"]["value"] == pytest.approx(np.mean(j == h))
    assert out["adjacent_agreement"]["value"] == pytest.approx(np.mean(np.abs(j - h) <= 1))
    for stat in out.values():
        _check_ci(stat, int(keep.sum()))


def test_weighted_kappa_uses_scale_distances_not_label_ranks() -> None:
    # values {1, 2, 5}: a 1-vs-5 disagreement is 4 steps, not 2 (as rank labels would say)
    judge, human = np.array([1, 5, 2, 1, 5, 2]), np.array([5, 1, 2, 1, 5, 1])
    out = item_level(judge, human, n_boot=10)
    ref = cohen_kappa_score(judge, human, labels=[1, 2, 3, 4, 5], weights="quadratic")
    rank_based = cohen_kappa_score(judge, human, weights="quadratic")
    assert out["quadratic_kappa"]["value"] == pytest.approx(ref)
    assert ref != pytest.approx(rank_based)


def test_discrete_scale_rule() -> None:
    thirds = np.arange(1, 16) / 3
    assert not is_discrete(thirds)  # means of 3 raters: continuous
    assert is_discrete(np.array([1.0, 2, 3, 4, 5]))
    assert is_discrete(np.arange(11.0)) and not is_discrete(np.arange(12.0))
    assert "cohen_kappa" not in item_level(thirds, thirds[::-1], n_boot=5)
    labels = item_level(["a", "b", "a", None, "c"] * 4, ["a", "b", "b", "a", "c"] * 4, n_boot=50)
    assert set(labels) == {"exact_agreement", "cohen_kappa", "krippendorff_alpha"}
    ref = cohen_kappa_score(["a", "b", "a", "c"] * 4, ["a", "b", "b", "c"] * 4)
    assert labels["cohen_kappa"]["value"] == pytest.approx(ref)
    assert labels["cohen_kappa"]["n"] == 16


def test_vectorised_bootstrap_kappa_and_kendall_match_libraries() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, (40, 30)), rng.integers(0, 5, (40, 30))
    for weights in (None, "linear", "quadratic"):
        ours = batch_kappa(x, y, 5, weights)
        ref = [
            cohen_kappa_score(a, b, labels=range(5), weights=weights)
            for a, b in zip(x, y, strict=True)
        ]
        np.testing.assert_allclose(ours, ref, rtol=1e-10)
    xs, ys = x[:, :16].astype(float), y[:, :16].astype(float)  # short rows, many ties
    ref = [sps.kendalltau(a, b).statistic for a, b in zip(xs, ys, strict=True)]
    np.testing.assert_allclose(_batch_kendall(xs, ys), ref, rtol=1e-10)


@pytest.mark.parametrize(
    ("values", "length", "from_counts"),
    [
        ("ratings 1-5", 300, True),  # item level: 300 rated items
        ("half points 1-5", 20, True),
        ("continuous", 20, False),  # pair signs
        ("continuous", 300, False),  # scipy per row
    ],
)
def test_batch_kendall_is_scipys_tau_b_on_each_path(
    values: str, length: int, from_counts: bool
) -> None:
    rng = np.random.default_rng(length)
    draw = {
        "ratings 1-5": lambda: rng.integers(1, 6, (25, length)).astype(float),
        "half points 1-5": lambda: rng.integers(2, 11, (25, length)) / 2,
        "continuous": lambda: rng.normal(size=(25, length)),
    }[values]
    x, y = draw(), draw()
    y[:5] = x[:5] + (rng.random((5, length)) < 0.3)  # rows that agree, with ties across
    x[5] = x[5, 0]  # one level only: tau-b undefined
    assert (_scale_counts(x, y) is not None) == from_counts
    ref = [sps.kendalltau(a, b).statistic for a, b in zip(x, y, strict=True)]
    np.testing.assert_allclose(_batch_kendall(x, y), ref, rtol=1e-10, atol=1e-12)
    assert math.isnan(ref[5])


def test_bootstrap_is_seeded_and_narrows_with_data() -> None:
    rng = np.random.default_rng(1)
    h = rng.normal(size=2000)
    j = h + rng.normal(size=2000)
    small, large = item_level(j[:100], h[:100], n_boot=300), item_level(j, h, n_boot=300)
    assert item_level(j[:100], h[:100], n_boot=300) == small
    assert item_level(j[:100], h[:100], n_boot=300, seed=1) != small
    width = {
        k: v["ci_high"] - v["ci_low"] for k, v in (("s", small["pearson"]), ("l", large["pearson"]))
    }
    assert width["l"] < 0.5 * width["s"]
    m = mean_ci([0.0, 1.0] * 50, n_boot=500)
    assert m["value"] == 0.5 and m["ci_low"] < 0.5 < m["ci_high"]


def test_summary_level_skips_constant_and_singleton_groups() -> None:
    judge = [1, 2, 3, 4, 5, 5, 5, 1, 3, 2, 9, 1, 2, 4, 3]
    human = [1, 3, 2, 4, 1, 2, 3, 2, 2, 2, 5, 2, 1, 3, 4]
    groups = ["a"] * 4 + ["b"] * 3 + ["c"] * 3 + ["d"] + ["e"] * 4
    # b: judge constant; c: human constant; d: one item -> only a and e count
    out = summary_level(judge, human, groups, n_boot=200)
    j, h = np.array(judge, float), np.array(human, float)
    for name, fn in (
        ("pearson", sps.pearsonr),
        ("spearman", sps.spearmanr),
        ("kendall", sps.kendalltau),
    ):
        ref = np.mean([fn(j[:4], h[:4]).statistic, fn(j[11:], h[11:]).statistic])
        assert out[name]["value"] == pytest.approx(ref)
        _check_ci(out[name], 2)


def _topical_chat() -> list[dict]:
    rows = json.loads(data_text("unieval-meta", "topical_chat.json"))
    for r in rows:
        r["scores"], r["predict_scores"] = (
            ast.literal_eval(r[k]) if isinstance(r[k], str) else r[k]
            for k in ("scores", "predict_scores")
        )
    return rows


def test_real_data_unieval_topical_chat_all_levels() -> None:
    rows = _topical_chat()
    judge = np.array([r["predict_scores"]["naturalness"] for r in rows])
    human = np.array([r["scores"]["naturalness"] for r in rows])
    groups = [r["source"] for r in rows]
    systems = [r["system_id"] for r in rows]
    out = evalharness.meta.agreement(judge, human, groups, systems, n_boot=200)
    # item ("turn") level, as the UniEval paper reports it: Pearson 0.444, Spearman 0.514
    assert out["item"]["pearson"]["value"] == pytest.approx(sps.pearsonr(judge, human)[0])
    assert round(out["item"]["pearson"]["value"], 3) == 0.444
    assert round(out["item"]["spearman"]["value"], 3) == 0.514
    _check_ci(out["item"]["kendall"], 360)
    # summary level: per dialogue context over its 6 responses, constant contexts skipped
    values = []
    for g in dict.fromkeys(groups):
        idx = [i for i, x in enumerate(groups) if x == g]
        if np.ptp(judge[idx]) > 0 and np.ptp(human[idx]) > 0:
            values.append(sps.kendalltau(judge[idx], human[idx]).statistic)
    assert out["summary"]["kendall"]["value"] == pytest.approx(np.mean(values))
    assert out["summary"]["kendall"]["n"] == len(values)
    # system level: per-system means
    names = sorted(set(systems))
    mj = [judge[[s == n for s in systems]].mean() for n in names]
    mh = [human[[s == n for s in systems]].mean() for n in names]
    assert out["system"]["pearson"]["value"] == pytest.approx(sps.pearsonr(mj, mh)[0])
    assert out["system"]["kendall"]["n"] == 6


def test_system_level_with_missing_scores_and_group_resampling() -> None:
    rng = np.random.default_rng(2)
    systems = np.tile(np.arange(5), 40)
    groups = np.repeat(np.arange(40), 5)
    human = systems * 0.5 + rng.normal(size=200)
    judge = human + rng.normal(size=200)
    judge[[3, 17]] = NAN
    out = system_level(judge, human, systems, groups, n_boot=300)
    keep = np.isfinite(judge)
    mj = [judge[keep & (systems == s)].mean() for s in range(5)]
    mh = [human[keep & (systems == s)].mean() for s in range(5)]
    assert out["pearson"]["value"] == pytest.approx(sps.pearsonr(mj, mh)[0])
    assert out["spearman"]["value"] == pytest.approx(sps.spearmanr(mj, mh)[0])
    _check_ci(out["kendall"], 5)


def test_krippendorff_any_raters_missing_values() -> None:
    # the krippendorff package's documented example: 3 raters x 15 units, many missing
    data = [
        [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
        [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
        [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
    ]
    table = np.array(data).T  # ours: items x raters
    assert krippendorff_alpha(table, "nominal") == pytest.approx(0.691358, abs=1e-6)
    assert krippendorff_alpha(table, "interval") == pytest.approx(0.810845, abs=1e-6)
    assert krippendorff_alpha(table, "ordinal") == pytest.approx(
        krippendorff.alpha(data, level_of_measurement="ordinal")
    )
    labels = np.where(np.isnan(table), None, table.astype(object))
    labels = np.vectorize(lambda v: None if v is None else f"L{int(v)}", otypes=[object])(labels)
    assert krippendorff_alpha(labels, "nominal") == pytest.approx(0.691358, abs=1e-6)


def test_inter_annotator_ceiling_with_missing_ratings() -> None:
    rng = np.random.default_rng(4)
    truth = rng.integers(1, 6, 300)
    raters = np.column_stack([np.clip(truth + rng.integers(-1, 2, 300), 1, 5) for _ in range(3)])
    table = raters.astype(float)
    table[rng.random((300, 3)) < 0.2] = NAN
    out = inter_annotator(table, n_boot=100)
    assert out["krippendorff_alpha"]["value"] == pytest.approx(
        krippendorff.alpha(table.T, level_of_measurement="ordinal")
    )
    kappas = []
    for a, b in ((0, 1), (0, 2), (1, 2)):
        both = np.isfinite(table[:, a]) & np.isfinite(table[:, b])
        kappas.append(cohen_kappa_score(table[both, a], table[both, b], labels=[1, 2, 3, 4, 5]))
    assert out["cohen_kappa"]["value"] == pytest.approx(np.mean(kappas))
    loo = []
    for r in range(3):
        others = np.delete(table, r, axis=1)
        rest = np.full(300, NAN)
        rated = np.isfinite(others).any(axis=1)
        rest[rated] = np.nanmean(others[rated], axis=1)
        ok = np.isfinite(table[:, r]) & np.isfinite(rest)
        loo.append(sps.spearmanr(table[ok, r], rest[ok]).statistic)
    assert out["loo_spearman"]["value"] == pytest.approx(np.mean(loo))
    assert out["krippendorff_alpha"]["n"] == int((np.isfinite(table).sum(1) >= 2).sum())
    for stat in out.values():
        assert stat["ci_low"] <= stat["value"] <= stat["ci_high"]


# ---------------------------------------------------------------------------------------------
# pairwise verdicts


def test_pairwise_accuracy_with_ties_and_unparseable() -> None:
    gold = [1, 2, 0, 1, 2, 0, None, 1]
    judge = ["A", 2, "tie", 2, "garbage", 1, 1, None]
    out = pairwise.accuracy(judge, gold, n_boot=200)
    # kept: 7 items (gold None dropped); right: items 0, 1, 2 -> 3/7
    assert out["accuracy"]["value"] == pytest.approx(3 / 7) and out["accuracy"]["n"] == 7
    # without gold ties: items 0, 1, 3, 4, 7 -> right 0, 1 -> 2/5
    assert out["accuracy_excl_gold_ties"]["value"] == pytest.approx(2 / 5)
    assert out["accuracy_excl_gold_ties"]["n"] == 5
    assert out["unparseable_rate"]["value"] == pytest.approx(2 / 7)
    assert pairwise.swap("1") == "2" and pairwise.swap(0) == "tie" and pairwise.swap(None) is None


def test_position_consistency_and_majority() -> None:
    ab, ba = [1, 2, 1, "tie", None, 2], [1, 1, 1, "tie", 1, "x"]
    out = pairwise.position_consistency(ab, ba, n_boot=100)
    assert out["value"] == pytest.approx(3 / 6)  # missing / unparseable = inconsistent
    votes = [[1, 1, 2], [1, 2, 0], [2, 2, None], [1, 2, None], [None, None, None], [0, 0, 1]]
    assert pairwise.majority_label(votes) == ["1", "tie", "2", "tie", None, "tie"]


def test_pandalm_inter_annotator_kappa_matches_sklearn() -> None:
    rows = json.loads(data_text("pandalm-testset", "testset-v1.json"))
    votes = [[r[f"annotator{k}"] for k in (1, 2, 3)] for r in rows]
    out = pairwise.inter_rater(votes, ["a1", "a2", "a3"], n_boot=100)
    refs = []
    for a, b in ((0, 1), (0, 2), (1, 2)):
        ref = cohen_kappa_score([v[a] for v in votes], [v[b] for v in votes])
        refs.append(ref)
        got = out["pairs"][f"a{a + 1}|a{b + 1}"]
        assert got["value"] == pytest.approx(ref)
        _check_ci(got, 999)
    assert out["mean_cohen_kappa"]["value"] == pytest.approx(np.mean(refs))
    assert out["krippendorff_alpha"]["value"] == pytest.approx(
        krippendorff.alpha(np.array(votes, float).T, level_of_measurement="nominal")
    )
    gpt = json.loads(data_text("pandalm-testset", "gpt-3.5-turbo-testset-v1.json"))
    judge = [g["gpt_result"] for g in gpt]
    kappa = pairwise.rater_kappa(judge, [v[0] for v in votes], n_boot=50)
    mapped = [{"1": "1", "2": "2", "Tie": "tie"}.get(x, "unparseable") for x in judge]
    human = [{1: "1", 2: "2", 0: "tie"}[v[0]] for v in votes]
    assert kappa["value"] == pytest.approx(cohen_kappa_score(mapped, human))


def test_llmbar_gpt4_reproduces_published_accuracy() -> None:
    pairs = {r["id"]: r for r in map(json.loads, data_lines("llmbar-pairwise", "pairs.jsonl"))}
    verdicts = [
        v
        for v in map(json.loads, data_lines("llmbar-pairwise", "judge_verdicts.jsonl"))
        if v["judge"] == "GPT-4" and v["strategy"] == "Vanilla_NoRules"
    ]
    published = {
        "llmbar_natural": 0.935,
        "llmbar_adv_neighbor": 0.642,
        "llmbar_adv_gptinst": 0.766,
        "llmbar_adv_gptout": 0.766,
        "llmbar_adv_manual": 0.750,
    }  # LLMBar paper, GPT-4 Vanilla
    for subset, acc in published.items():
        vs = [v for v in verdicts if pairs[v["id"]]["set"] == subset]
        gold = [pairs[v["id"]]["label"] for v in vs]
        out = pairwise.both_orders(
            gold, [v["winner_ab"] for v in vs], [v["winner_ba"] for v in vs], n_boot=100
        )
        assert round(out["accuracy"]["value"], 3) == acc, subset
        same = np.mean(
            [v["winner_ab"] == v["winner_ba"] and v["winner_ab"] is not None for v in vs]
        )
        assert out["position_consistency"]["value"] == pytest.approx(same)
        _check_ci(out["accuracy"], len(vs))
