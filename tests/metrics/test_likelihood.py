"""Multiple-choice accuracy and corpus perplexities on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalharness.errors import DataError
from evalharness.metrics import Outcome, get_metric


def _value(name: str, outcomes: list[Outcome]) -> float:
    metric = get_metric(name)
    return metric.value(metric.stats(outcomes))


MC = [
    # acc wrong, acc_norm right: -2/2 = -1.0 < -5/19 = -0.263
    Outcome(choices=(" a", " much longer answer"), choice_logprobs=(-2.0, -5.0), gold=1),
    # acc right, acc_norm wrong: -3/3 = -1.0 < -4/23 = -0.174
    Outcome(choices=("yes", "a very long option text"), choice_logprobs=(-3.0, -4.0), gold=0),
    # both right
    Outcome(choices=("red", "blue", "green"), choice_logprobs=(-9.0, -1.0, -8.0), gold=1),
    # both wrong
    Outcome(choices=("red", "blue", "green"), choice_logprobs=(-9.0, -1.0, -8.0), gold=2),
]


def test_acc_and_acc_norm_disagree() -> None:
    assert get_metric("acc").stats(MC)[:, 0].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert get_metric("acc_norm").stats(MC)[:, 0].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert _value("acc", MC[:3]) == pytest.approx(2 / 3)
    assert _value("acc_norm", MC[:1]) == 1.0 and _value("acc", MC[:1]) == 0.0
    assert _value("acc", MC) == 0.5 and _value("acc_norm", MC) == 0.5


def test_acc_norm_counts_characters_not_tokens() -> None:
    # same word count, different character lengths: -6/6 = -1.0 > -4/3 = -1.33
    o = Outcome(choices=("abc", "abcdef"), choice_logprobs=(-4.0, -6.0), gold=1)
    assert _value("acc_norm", [o]) == 1.0 and _value("acc", [o]) == 0.0


def test_multiple_choice_bad_input() -> None:
    with pytest.raises(DataError, match="gold"):
        get_metric("acc").stats([Outcome(choices=("a",), choice_logprobs=(-1.0,), gold=1)])
    with pytest.raises(DataError, match="2 choices but 3"):
        get_metric("acc_norm").stats(
            [Outcome(choices=("a", "b"), choice_logprobs=(-1.0, -2.0, -3.0), gold=0)]
        )
    with pytest.raises(DataError, match="empty choice"):
        get_metric("acc_norm").stats(
            [Outcome(choices=("", "b"), choice_logprobs=(-1.0, -2.0), gold=0)]
        )
    assert get_metric("acc").stats([]).shape == (0, 2)


DOCS = [
    Outcome(logprob=-10.0, n_tokens=5, n_words=4, n_bytes=20),
    Outcome(logprob=-3.0, n_tokens=1, n_words=1, n_bytes=4),
]


def test_perplexities_by_hand() -> None:
    # Σ logprob = -13; tokens 6, words 5, bytes 24
    assert _value("perplexity", DOCS) == pytest.approx(math.exp(13 / 6))
    assert _value("word_perplexity", DOCS) == pytest.approx(math.exp(13 / 5))
    assert _value("byte_perplexity", DOCS) == pytest.approx(math.exp(13 / 24))
    assert _value("bits_per_byte", DOCS) == pytest.approx(13 / (24 * math.log(2)))
    assert _value("bits_per_byte", DOCS) == pytest.approx(
        math.log2(_value("byte_perplexity", DOCS))
    )


def test_corpus_perplexity_is_not_mean_of_document_perplexities() -> None:
    per_doc = [_value("perplexity", [d]) for d in DOCS]
    assert per_doc == pytest.approx([math.exp(2.0), math.exp(3.0)])
    corpus = _value("perplexity", DOCS)
    assert corpus == pytest.approx(8.7291, abs=1e-4)  # e^(13/6)
    assert abs(corpus - np.mean(per_doc)) > 5.0  # mean would be 13.74


def test_perplexity_direction_and_edges() -> None:
    for name in ("perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte"):
        metric = get_metric(name)
        assert metric.output_type == "perplexity" and not metric.higher_is_better
        assert math.isnan(metric.value(metric.stats([Outcome(logprob=0.0)])))  # no units
        assert metric.stats([]).shape == (0, 2)
    assert get_metric("acc").higher_is_better
    # a perfect model: logprob 0 gives perplexity 1 and 0 bits per byte
    perfect = [Outcome(logprob=0.0, n_tokens=3, n_words=2, n_bytes=9)]
    assert _value("perplexity", perfect) == 1.0 and _value("bits_per_byte", perfect) == 0.0
