"""What a judge returns: ``Verdict`` (one judged prompt), ``PairVerdict`` (a pair, both orders).

Plain data shared by the judge (``judge.py``, which makes them), the score distributions
(``distribution.py``, which reads them) and the stored rows (``stored.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from evalharness.judges.parse import CriterionResult
from evalharness.requests import Message

Winner = Literal["a", "b", "tie"]

__all__ = ["PairVerdict", "Verdict", "Winner"]


@dataclass(frozen=True)
class Verdict:
    """One judged prompt after re-asks; ``results`` is None when no sample parsed."""

    prompt: tuple[Message, ...]
    results: dict[str, CriterionResult] | None
    raws: tuple[str, ...]  # the final reply of each of the n samples
    samples: tuple[dict[str, CriterionResult] | None, ...]  # each sample, parsed or None
    errors: tuple[str | None, ...]  # each sample's last parse error
    attempts: tuple[int, ...]  # generate rounds each sample took
    replies: tuple[tuple[str, ...], ...] = ()  # every reply of each sample, re-asks included
    reference_shown: bool = False
    structured: str | None = None  # how the schema was enforced (backend's meta), None: not sent
    # criterion -> {scale value: probability} (G-Eval; judges/distribution.py), when scored
    distributions: dict[str, dict[str, float]] | None = None

    @property
    def parsed(self) -> bool:
        return self.results is not None

    @property
    def mode(self) -> str:
        return "reference_guided" if self.reference_shown else "pointwise"


@dataclass(frozen=True)
class PairVerdict:
    """Both orders of one pair; ``winners[c]`` is 'a', 'b', 'tie', or None when unparsed."""

    ab: Verdict  # subject.output shown as A
    ba: Verdict  # subject.output shown as B
    winners: dict[str, Winner | None]
    consistent: dict[str, bool | None]  # both orders agree (None when either is unparsed)
