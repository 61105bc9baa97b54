"""Strict verdict parsing (judges/parse.py), MQM penalties from error annotations."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from evalharness.judges.parse import ParseError, parse_judgment, validate_judgment
from evalharness.judges.rubric import load_rubric
from tests.judges.helpers import SUMMEVAL, _uniform
from tests.support.helpers import data_lines


def test_mqm_penalty_reproduces_the_expert_mqm_scores() -> None:
    """The rubric's weights turn the experts' own error annotations into their MQM penalty."""
    errors = defaultdict(list)
    for line in data_lines("wmt-mqm-ted-ende", "mqm_ted_ende.tsv")[1:]:
        system, doc, _, seg, rater, _, _, category, severity, *_ = line.split("\t")
        if category != "No-error":
            span = {"span": "x", "category": category, "severity": severity}
            errors[(system, doc, int(seg), rater)].append(span)
    rubric = load_rubric("mqm_translation")
    n_checked = 0
    for line in data_lines("wmt-mqm-ted-ende", "system_outputs_mqm.jsonl"):
        row = json.loads(line)
        found = errors[(row["system"], row["doc"], row["seg_id"], row["raters"][0])]
        answer = {"mqm": {"rationale": "expert annotation", "errors": found}}
        assert validate_judgment(answer, rubric)["mqm"].score == pytest.approx(row["mqm_penalty"])
        n_checked += 1
    assert n_checked == 7406


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("I think 4.", "no JSON object"),
        ('{"coherence": {"rationale": "x", "score": 4', "malformed"),
        (_uniform(4).replace('"relevance"', '"relevence"'), "'relevance' is missing"),
        (_uniform(6), "must be an integer from 1 to 5, got 6"),
        (_uniform(4).replace(": 4}", ": 3.5}", 1), "got 3.5"),
        (_uniform(4).replace(": 4}", ': "4"}', 1), "got '4'"),
        (_uniform(4).replace('"Because."', '""', 1), "non-empty string"),
    ],
)
def test_strict_parsing_rejects_what_it_cannot_read(text: str, needle: str) -> None:
    with pytest.raises(ParseError, match=needle):
        parse_judgment(text, SUMMEVAL)
    assert parse_judgment(_uniform(4), SUMMEVAL)["fluency"].score == 4.0


def test_a_raw_newline_inside_a_rationale_is_read_as_it_is() -> None:
    """llama.cpp's JSON grammar lets control characters into strings; the value is unchanged."""
    text = _uniform(4).replace('"Because."', '"Because\nof this."', 1)
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)  # strict JSON refuses it
    assert parse_judgment(text, SUMMEVAL)["coherence"].rationale == "Because\nof this."
