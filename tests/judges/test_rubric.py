"""Rubrics (judges/rubric.py): validation errors, every shipped rubric, the human data's
criteria."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from evalharness.errors import ConfigError
from evalharness.judges.judge import Subject
from evalharness.judges.parse import parse_judgment
from evalharness.judges.render import answer_format, render_prompt
from evalharness.judges.rubric import load_rubric, rubric_files
from tests.judges.helpers import GOOD, SUMMEVAL, _answer
from tests.support.helpers import data_lines, data_text


@pytest.mark.parametrize(
    ("old", "new", "field", "needle"),
    [
        ("3: good}", "}", "criteria.0", "no description of level '3'"),
        ("scale:", "scal:", "criteria.0.scal", "Extra inputs are not permitted"),
        ("{min: 1, max: 3}", "{min: 3, max: 1}", "criteria.0.scale", "need min < max"),
        (
            "name: tiny\n",
            "name: tiny\nmode: pairwise\n",
            "(top level)",
            "pairwise rubric needs label",
        ),
        ("name: quality", "name: Quality!", "criteria.0.name", "lower-case"),
        ("levels:", "template: '{% if x %}'\n    levels:", "criteria.0.template", "Extra inputs"),
    ],
)
def test_rubric_errors_name_the_file_and_field(
    tmp_path: Path, old: str, new: str, field: str, needle: str
) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD)
    assert load_rubric(path).criteria[0].levels["3"] == "good"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {field}: ")) as err:
        load_rubric(path)
    assert f"{path}: {field}: " in str(err.value) and needle in str(err.value)


def test_rubric_template_and_examples_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD + "template: '{% if x %}no end'\n")
    with pytest.raises(ConfigError, match=r"tiny.yaml: template: Jinja2 syntax error"):
        load_rubric(path)
    bad_example = "examples:\n  - output: x\n    judgment: {quality: {rationale: r, score: 7}}\n"
    path.write_text(GOOD + bad_example)
    with pytest.raises(ConfigError, match=r"examples.0.judgment: 'quality': \"score\" must be"):
        load_rubric(path)
    with pytest.raises(ConfigError, match="unknown rubric 'nope'"):
        load_rubric("nope")


@pytest.mark.parametrize("name", sorted(rubric_files()))
def test_every_shipped_rubric_loads_renders_and_parses(name: str) -> None:
    rubric = load_rubric(name)
    subject = Subject("SOURCE TEXT", "OUTPUT TEXT", "REFERENCE TEXT", "OTHER OUTPUT")
    system, user = render_prompt(rubric, subject)
    text = user["content"]
    assert system["role"] == "system" and "OUTPUT TEXT" in text and "SOURCE TEXT" in text
    assert ("REFERENCE TEXT" in text) == rubric.show_reference
    assert ("OTHER OUTPUT" in text) == (rubric.mode == "pairwise")
    assert text.endswith(answer_format(rubric))
    for c in rubric.criteria:
        assert f"{c.name}: {c.description.strip()}" in text
        for description in c.levels.values():
            assert description.strip() in text  # every level is described to the judge
    parsed = parse_judgment("Sure!\n```json\n" + _answer(rubric) + "\n```", rubric)
    assert set(parsed) == {c.name for c in rubric.criteria}


def test_rubric_criteria_line_up_with_the_human_rating_data() -> None:
    row = json.loads(data_lines("summeval", "summeval_judgments.jsonl")[0])
    assert [c.name for c in SUMMEVAL.criteria] == sorted(row["scores"])
    assert all((c.scale.min, c.scale.max) == (1, 5) for c in SUMMEVAL.criteria)
    scales = {c.name: (c.scale.min, c.scale.max) for c in load_rubric("topical_chat").criteria}
    assert scales == {
        "understandability": (0, 1), "naturalness": (1, 3), "coherence": (1, 3),
        "engagingness": (1, 3), "groundedness": (0, 1), "overall": (1, 5),
    }  # fmt: skip
    for name, file in (("data_to_text", "sfres.json"), ("factual_consistency", "qags_cnndm.json")):
        scores = json.loads(data_text("unieval-meta", file))[0]["scores"]
        scores = ast.literal_eval(scores) if isinstance(scores, str) else scores
        assert {c.name for c in load_rubric(name).criteria} == set(scores)
