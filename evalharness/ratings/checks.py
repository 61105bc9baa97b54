"""A rating checked against its rubric: a known criterion, a score on the scale, a known label.

Ratings under a rubric that evalharness knows (a bundled rubric or one on
``$EVALHARNESS_RUBRIC_PATH``) must fit it: 99 on a 1-5 criterion, a criterion the rubric lacks,
or a label outside its label set would silently skew every agreement table. Ratings under other
rubric names (``default``, an imported set's own name) are only required to be finite.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from evalharness.errors import ConfigError, DataError


@lru_cache(maxsize=32)
def _rubric(name: str) -> Any:
    """The known rubric of this name, else None."""
    from evalharness.judges.rubric import load_rubric, rubric_files

    if name not in rubric_files():
        return None
    try:
        return load_rubric(name)
    except ConfigError:
        return None


def check_on_rubric(
    where: str, rubric: str, criterion: str, score: float | None, label: str | None
) -> None:
    """A ``DataError`` naming ``where`` (file and row) if the rating does not fit the rubric."""
    known = _rubric(rubric)
    if known is None:
        return
    names = [c.name for c in known.criteria]
    if criterion not in names:
        raise DataError(
            f"{where}: criterion {criterion!r} is not in rubric {rubric!r} "
            f"(criteria: {', '.join(names)})"
        )
    spec = known.criterion(criterion)
    if spec.scale is None:  # MQM error annotation: the score is a penalty, the label free
        return
    if spec.scale.is_labels:
        labels = {value.lower() for value in spec.scale.labels}
        if label is not None and label.lower() not in labels:
            raise DataError(
                f"{where}: label {label!r} is not one of {rubric}.{criterion}'s labels "
                f"({', '.join(spec.scale.labels)})"
            )
        return
    low, high = spec.scale.min, spec.scale.max
    assert low is not None and high is not None
    if score is not None and not low <= score <= high:
        raise DataError(
            f"{where}: score {score:g} is outside {rubric}.{criterion}'s scale {low}..{high}"
        )
    if label is not None and score is None and label not in spec.scale.values():
        raise DataError(f"{where}: label {label!r} is not a level of {rubric}.{criterion}")
