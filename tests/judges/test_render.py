"""Judge prompts (judges/render.py): a rubric's own template or template file."""

from __future__ import annotations

from pathlib import Path

from evalharness.judges.judge import Subject
from evalharness.judges.render import render_prompt
from evalharness.judges.rubric import load_rubric
from tests.judges.helpers import GOOD


def test_a_template_override_is_used(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD + "template: 'Grade {{ output }} as {{ answer_format }}'\n")
    prompt = render_prompt(load_rubric(path), Subject(output="the text"))
    assert prompt[1]["content"].startswith("Grade the text as {")
    (tmp_path / "t.j2").write_text("FILE {{ output }}")
    path.write_text(GOOD + "template_file: t.j2\n")
    assert render_prompt(load_rubric(path), Subject(output="x"))[1]["content"] == "FILE x"
