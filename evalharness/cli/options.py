"""Options and helpers every command group shares."""

from __future__ import annotations

from typing import Annotated

import typer

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="SQLAlchemy URL (default: $EVALHARNESS_DB or sqlite:///evalharness.db)"
    ),
]


def split(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated values (``--tasks a,b --tasks c``) as one list."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]
