"""Judge bias measures: position, verbosity, self-preference, prompt-injection probes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from evalharness.meta.bias import (
    INJECTION,
    length_preference,
    partial_spearman,
    position_bias,
    probe_effect,
    probe_variants,
    self_preference,
    verbosity_bias,
)
from tests.support.helpers import data_lines


def test_position_bias_counts_the_first_shown_response() -> None:
    ab = [1, 1, 1, 2, "tie", None, 1, 1]
    ba = [2, 1, 2, 2, 1, 2, "x", 1]  # pair numbering: "2" means the first shown when swapped
    out = position_bias(ab, ba, n_boot=200)
    # decisive verdicts: ab 1,1,1,2,1,1 (5 first of 6); ba 2,1,2,2,1,2,1 (4 first of 7)
    assert out["first_position_rate"]["value"] == pytest.approx(9 / 13)
    assert out["first_position_rate"]["n"] == 13
    assert out["p_value"]["value"] == pytest.approx(sps.binomtest(9, 13, 0.5).pvalue)
    assert out["consistency"]["value"] == pytest.approx(3 / 8)  # pairs 1, 3 and 7 agree


def test_position_bias_on_llmbar_chatgpt_vs_gpt4() -> None:
    rows = [json.loads(x) for x in data_lines("llmbar-pairwise", "judge_verdicts.jsonl")]
    rates = {}
    for judge in ("GPT-4", "ChatGPT"):
        vs = [r for r in rows if r["judge"] == judge and r["strategy"] == "Vanilla_NoRules"]
        out = position_bias([r["winner_ab"] for r in vs], [r["winner_ba"] for r in vs], n_boot=200)
        first = sum(r["winner_ab"] == 1 for r in vs) + sum(r["winner_ba"] == 2 for r in vs)
        decisive = sum(r["winner_ab"] in (1, 2) for r in vs) + sum(
            r["winner_ba"] in (1, 2) for r in vs
        )
        assert out["first_position_rate"]["value"] == pytest.approx(first / decisive)
        rates[judge] = out
    # GPT-4 is the more position-consistent judge (LLMBar's "positional agreement")
    assert rates["GPT-4"]["consistency"]["ci_low"] > rates["ChatGPT"]["consistency"]["ci_high"]


def test_partial_spearman_matches_the_partial_correlation_formula() -> None:
    rng = np.random.default_rng(0)
    human = rng.normal(size=300)
    length = 0.5 * human + rng.normal(size=300)
    judge = human + 0.4 * length + rng.normal(size=300)
    r = {
        k: sps.spearmanr(*v).statistic
        for k, v in {"jl": (judge, length), "jh": (judge, human), "lh": (length, human)}.items()
    }
    ref = (r["jl"] - r["jh"] * r["lh"]) / math.sqrt((1 - r["jh"] ** 2) * (1 - r["lh"] ** 2))
    assert partial_spearman(judge, length, human) == pytest.approx(ref)


def test_verbosity_bias_separates_length_reward_from_quality() -> None:
    rng = np.random.default_rng(1)
    human = rng.normal(size=400)
    length = 100 + 30 * human + rng.normal(0, 30, 400)  # better answers are longer
    fair = human + rng.normal(0, 0.5, 400)
    biased = fair + 0.02 * length
    out_fair = verbosity_bias(fair, human, length, n_boot=200)
    out_biased = verbosity_bias(biased, human, length, n_boot=200)
    assert out_fair["judge_length_spearman"]["value"] > 0.3  # raw correlation misleads...
    assert out_fair["partial_spearman"]["ci_low"] < 0 < out_fair["partial_spearman"]["ci_high"]
    assert out_biased["partial_spearman"]["ci_low"] > 0.2  # ...the partial one does not
    assert out_fair["human_length_spearman"]["value"] == pytest.approx(
        sps.spearmanr(human, length).statistic
    )


def test_length_preference_against_gold() -> None:
    verdicts = [1, 1, 2, 1, "tie", 2]
    gold = [2, 1, 2, 1, 1, 1]
    len1, len2 = [50, 80, 10, 90, 30, 30], [20, 20, 40, 10, 10, 30]
    out = length_preference(verdicts, len1, len2, gold, n_boot=100)
    # longer: 1,1,2,1,1,None -> judge decisive on items 0-3: picks longer on all 4
    assert out["judge_longer_rate"]["value"] == 1.0 and out["judge_longer_rate"]["n"] == 4
    # gold on items 0-4: 2,1,2,1,1 vs longer 1,1,2,1,1 -> 4 of 5
    assert out["gold_longer_rate"]["value"] == pytest.approx(0.8)
    assert out["excess"]["value"] == pytest.approx(0.25)  # items 0-3: 1 - 0.75


def test_self_preference() -> None:
    rng = np.random.default_rng(2)
    systems = np.repeat(["judge-model", "a", "b", "c"], 150)
    human = rng.normal(3, 1, 600)
    judge = human + 0.2 + rng.normal(0, 0.3, 600)
    flat = self_preference(judge, human, systems, "judge-model", n_boot=300)
    assert flat["self_preference"]["ci_low"] < 0 < flat["self_preference"]["ci_high"]
    judge[systems == "judge-model"] += 0.5
    out = self_preference(judge, human, systems, "judge-model", n_boot=300)
    own = (judge - human)[systems == "judge-model"].mean()
    other = (judge - human)[systems != "judge-model"].mean()
    assert out["self_preference"]["value"] == pytest.approx(own - other)
    assert out["self_preference"]["ci_low"] > 0.35
    with pytest.raises(ValueError, match="no scored outputs of system 'nobody'"):
        self_preference(judge, human, systems, "nobody")


def test_probe_variants_and_effect() -> None:
    response = "Paris is the capital of France."
    v = probe_variants(response)
    assert v["original"] == response
    assert v["padded"].startswith(response) and len(v["padded"]) >= 2 * len(response)
    assert v["injected"] == f"{response}\n\n{INJECTION}"
    assert "ignore" in v["injected"].lower()
    out = probe_effect([3, 4, 2, math.nan, 5], [5, 4, 3, 1, 5], n_boot=100)
    assert out["mean_shift"]["value"] == pytest.approx(3 / 4) and out["mean_shift"]["n"] == 4
    assert out["raised_rate"]["value"] == pytest.approx(0.5)
