"""A rubric's criteria: the scale each is rated on (integers or labels) or its MQM error scheme.

The leaf the verdict parser (``parse``) and the rubric spec (``rubric``) both build on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from evalharness.specs import Spec

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


class HasCriteria(Protocol):
    """What a verdict is checked against: a rubric, or anything listing criteria."""

    @property
    def criteria(self) -> tuple[Criterion, ...]: ...
