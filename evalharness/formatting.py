"""Numbers for people: one format and one mark for a missing value, everywhere results show.

``number`` is what the terminal, the reports, the gate renderings and the app print for a
value: 4 significant digits by default, and ``—`` for None, NaN or infinity (nothing was
averaged, a metric does not apply). ``interval`` is a confidence interval the same way.
"""

from __future__ import annotations

import math

MISSING = "—"


def number(value: float | None, spec: str = ".4g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return format(value, spec)


def interval(low: float | None, high: float | None, spec: str = ".4g") -> str:
    """``[low, high]``; ``—`` when either end is missing."""
    shown = number(low, spec), number(high, spec)
    return MISSING if MISSING in shown else f"[{shown[0]}, {shown[1]}]"
