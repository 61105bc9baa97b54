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

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import TemplateSyntaxError
from pydantic import Field, field_validator, model_validator

from evalharness.config import Spec, _read_yaml, parse_spec
from evalharness.errors import ConfigError
from evalharness.resources import yaml_files

PAIR_LABELS = ("A", "B", "tie")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Scale(Spec):
    """An integer range (``{min: 1, max: 5}``) or a label set (``{labels: [A, B, tie]}``)."""

    min: int | None = None
    max: int | None = None
    labels: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_kind(self) -> Scale:
        if self.labels:
            if self.min is not None or self.max is not None:
                raise ValueError("give either min/max (an integer scale) or labels, not both")
            lowered = [label.lower() for label in self.labels]
            if len(set(lowered)) != len(lowered) or not all(s.strip() for s in self.labels):
                raise ValueError("labels must be distinct, non-empty strings")
            return self
        if self.min is None or self.max is None:
            raise ValueError("give min and max (an integer scale) or labels")
        if not self.min < self.max <= self.min + 100:
            raise ValueError(f"need min < max <= min + 100, got {self.min}..{self.max}")
        return self

    @property
    def is_labels(self) -> bool:
        return bool(self.labels)

    def values(self) -> tuple[str, ...]:
        """Every level as a string, in order: ``('1', ..., '5')`` or the labels."""
        if self.labels:
            return self.labels
        assert self.min is not None and self.max is not None
        return tuple(str(v) for v in range(self.min, self.max + 1))

    def describe(self) -> str:
        if self.labels:
            return "one of " + ", ".join(f'"{label}"' for label in self.labels)
        return f"an integer from {self.min} to {self.max}"


class ErrorScheme(Spec):
    """MQM-style error annotation: each error has a category and a severity (a level key)."""

    categories: tuple[str, ...] = Field(min_length=1)
    weights: dict[str, float]  # severity -> penalty per error
    category_weights: dict[str, dict[str, float]] = Field(default_factory=dict)  # overrides
    max_errors: int = Field(5, ge=1)
    max_penalty: float | None = Field(None, gt=0)  # cap of a segment's penalty

    @model_validator(mode="after")
    def _known_overrides(self) -> ErrorScheme:
        for category, weights in self.category_weights.items():
            if category not in self.categories:
                raise ValueError(f"category_weights: {category!r} is not one of the categories")
            unknown = set(weights) - set(self.weights)
            if unknown:
                raise ValueError(f"category_weights.{category}: unknown severity {min(unknown)!r}")
        return self

    def weight(self, category: str, severity: str) -> float:
        return self.category_weights.get(category, {}).get(severity, self.weights[severity])

    def penalty(self, errors: Sequence[dict[str, str]]) -> float:
        total = sum(self.weight(e["category"], e["severity"]) for e in errors)
        return min(total, self.max_penalty) if self.max_penalty is not None else total


class Criterion(Spec):
    name: str
    description: str = Field(min_length=1)
    scale: Scale | None = None
    errors: ErrorScheme | None = None
    levels: dict[str, str]  # level (a scale value, or a severity) -> what it means

    @field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"{name!r}: use lower-case letters, digits and '_'")
        return name

    @field_validator("levels", mode="before")
    @classmethod
    def _string_keys(cls, levels: Any) -> Any:
        return {str(k): v for k, v in levels.items()} if isinstance(levels, dict) else levels

    @model_validator(mode="after")
    def _levels_cover_scale(self) -> Criterion:
        if (self.scale is None) == (self.errors is None):
            raise ValueError("give exactly one of 'scale' (scores or labels) or 'errors' (MQM)")
        expected = self.scale.values() if self.scale else tuple(self.errors.weights)  # type: ignore[union-attr]
        missing = [level for level in expected if not self.levels.get(level, "").strip()]
        if missing:
            raise ValueError(f"levels: no description of level {missing[0]!r}")
        extra = [level for level in self.levels if level not in expected]
        if extra:
            raise ValueError(f"levels: {extra[0]!r} is not a level of the scale ({expected})")
        return self

    @property
    def kind(self) -> Literal["score", "label", "errors"]:
        if self.errors is not None:
            return "errors"
        return "label" if self.scale and self.scale.is_labels else "score"


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
            from evalharness.prompts import ENV

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
        from evalharness.judges.parse import ParseError, validate_judgment

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
    text = _read_text(path)
    return _parse(str(path), text)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


@lru_cache(maxsize=64)
def _parse(path_text: str, _text: str) -> Rubric:  # keyed on the text: an edited file reloads
    path = Path(path_text)
    rubric: Rubric = parse_spec(Rubric, _read_yaml(path), path)
    if rubric.template_file is not None:
        file = path.parent / rubric.template_file
        try:
            source = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: template_file: cannot read {file}: {exc}") from None
        data = rubric.model_dump() | {"template": source, "template_file": None}
        rubric = parse_spec(Rubric, data, f"{path} (template_file {rubric.template_file})")
    return rubric
