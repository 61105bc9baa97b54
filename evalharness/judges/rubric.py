"""Rubric specs: YAML files under ``rubrics/``, validated once at load time, then frozen.

A rubric names its criteria; each criterion has a scale (an integer range or a set of labels)
and a description of every level, or, for MQM-style annotation, an error scheme (categories,
severities with a description each, and the weights that turn errors into a penalty). The
same rubric drives the judge prompt and the annotator form. Example::

    name: fluency_only
    description: "How well written a summary is."
    criteria:
      - name: fluency
        description: "Quality of the individual sentences."
        scale: {min: 1, max: 3}
        levels: {1: "Many errors.", 2: "Some errors.", 3: "No errors."}

Errors name the file and the field: ``rubrics/x.yaml: criteria.0.levels: no description of
level 3``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import TemplateSyntaxError
from pydantic import Field, field_validator, model_validator

from evalharness.errors import ConfigError
from evalharness.judges.criteria import Criterion
from evalharness.judges.parse import ParseError, validate_judgment
from evalharness.prompts import ENV
from evalharness.resources import yaml_files
from evalharness.specs import OutputKind, Spec, parse_spec, read_text, read_yaml


class Example(Spec):
    """A graded example shown to the judge (few-shot); ``judgment`` is the expected JSON."""

    source: str = ""
    output: str = ""
    output_b: str | None = None  # pairwise: the second response
    reference: str | None = None
    judgment: dict[str, Any]


class Rubric(Spec):
    name: str
    description: str = Field(min_length=1)
    mode: Literal["pointwise", "pairwise"] = "pointwise"
    show_reference: bool = False
    show_source: bool = True
    source_label: str = "Source"
    output_label: str = "Response"
    reference_label: str = "Reference"
    instructions: str = ""  # extra guidance shown before the criteria (e.g. evaluation steps)
    criteria: tuple[Criterion, ...] = Field(min_length=1)
    examples: tuple[Example, ...] = ()
    template: str | None = None  # Jinja2 override of the shipped template (inline)
    template_file: str | None = None  # ... or a file, relative to the rubric file
    max_tokens: int = Field(512, ge=16)  # judge answer budget
    # the outputs it rates (tasks' ``generates:``); empty: any task's (the desk offers them)
    fits: tuple[OutputKind, ...] = ()

    def fits_kind(self, kind: str | None) -> bool:
        """Whether the annotation desk offers outputs of this kind under the rubric."""
        return not self.fits or kind in self.fits

    @field_validator("criteria")
    @classmethod
    def _unique(cls, criteria: tuple[Criterion, ...]) -> tuple[Criterion, ...]:
        names = [c.name for c in criteria]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"criterion {name!r} is listed twice")
        return criteria

    @field_validator("template")
    @classmethod
    def _compiles(cls, template: str | None) -> str | None:
        if template is not None:
            try:
                ENV.parse(template)
            except TemplateSyntaxError as exc:
                raise ValueError(f"Jinja2 syntax error line {exc.lineno}: {exc.message}") from None
        return template

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        if self.template is not None and self.template_file is not None:
            raise ValueError("give 'template' or 'template_file', not both")
        for c in self.criteria:
            if self.mode == "pairwise" and c.kind != "label":
                raise ValueError(f"criterion {c.name!r}: a pairwise rubric needs label scales")
            if self.mode == "pairwise":
                labels = {label.lower() for label in c.scale.labels}  # type: ignore[union-attr]
                if not {"a", "b"} <= labels <= {"a", "b", "tie"}:
                    raise ValueError(
                        f"criterion {c.name!r}: pairwise labels must be A, B and optionally tie"
                    )
        for i, example in enumerate(self.examples):
            if (example.output_b is None) != (self.mode == "pointwise"):
                need = "no" if self.mode == "pointwise" else "an"
                raise ValueError(f"examples.{i}: a {self.mode} example needs {need} 'output_b'")
            try:
                validate_judgment(example.judgment, self)
            except ParseError as exc:
                raise ValueError(f"examples.{i}.judgment: {exc}") from None
        return self

    def criterion(self, name: str) -> Criterion:
        for c in self.criteria:
            if c.name == name:
                return c
        raise KeyError(f"rubric {self.name!r} has no criterion {name!r}")


def rubric_files() -> dict[str, Path]:
    """Rubric name -> file: the folders of ``$EVALHARNESS_RUBRIC_PATH``, then the bundled ones."""
    return yaml_files("rubrics")


def rubric_path(name: str) -> Path:
    """A bundled rubric's file, or ``name`` itself when it is a path to a YAML file."""
    if name.endswith((".yaml", ".yml")):
        return Path(name)
    known = rubric_files()
    if name not in known:
        raise ConfigError(f"unknown rubric {name!r} (known: {', '.join(known) or 'none'})")
    return known[name]


def load_rubric(name: str | Path) -> Rubric:
    """Load and validate a rubric by bundled name or path; errors name the file and field."""
    path = rubric_path(str(name)) if isinstance(name, str) else name
    text = read_text(path)
    return _parse(str(path), text)


@lru_cache(maxsize=64)
def _parse(path_text: str, _text: str) -> Rubric:  # keyed on the text: an edited file reloads
    path = Path(path_text)
    rubric: Rubric = parse_spec(Rubric, read_yaml(path), path)
    if rubric.template_file is not None:
        file = path.parent / rubric.template_file
        try:
            source = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: template_file: cannot read {file}: {exc}") from None
        data = rubric.model_dump() | {"template": source, "template_file": None}
        rubric = parse_spec(Rubric, data, f"{path} (template_file {rubric.template_file})")
    return rubric
