"""Rubric-driven autoraters: rubrics (YAML) -> judge prompts -> strict JSON verdicts -> store.

``rubric`` (specs and loading), ``render`` (prompts from shipped Jinja2 templates), ``parse``
(strict JSON verdicts), ``judge`` (pointwise, reference-guided, pairwise with position swap,
self-consistency), ``verdict`` (what a judge returns), ``distribution`` (G-Eval score
distributions), ``records`` (the ``judgments`` table), ``stored`` (stored samples -> subjects,
stored judgments -> aggregates), ``run`` (judging stored runs: pointwise, pairwise), ``task``
(a task's judges after its run), ``best_of_n`` (best-of-N selection by a judge). The commands
are in ``evalharness.cli.judge``. Judge scores are named ``judge:<rubric>.<criterion>`` and a
best-of-N selector ``judge:<rubric>``; ``judge_rubric`` and ``judged_metric`` are the readers
of that prefix. Nothing heavy is imported here.
"""

import re
from dataclasses import dataclass

JUDGE_PREFIX = "judge:"
_JUDGED = re.compile(r"^judge:([^.\[\]]+)\.([^\[\]]+?)(?:\[(.+)\])?$")


@dataclass(frozen=True)
class JudgedMetric:
    """``judge:<rubric>.<criterion>[<judge>]``: ``criterion`` may be ``<criterion>:<label>``
    (the rate of that label); ``judge`` None means the rubric's panel."""

    rubric: str
    criterion: str
    judge: str | None = None

    @property
    def label(self) -> str | None:
        return self.criterion.split(":", 1)[1] if ":" in self.criterion else None

    @property
    def base_criterion(self) -> str:
        return self.criterion.split(":", 1)[0]


def judged_metric(name: str) -> JudgedMetric | None:
    """The parts of a judged metric's name; None for any other name."""
    match = _JUDGED.match(name)
    return JudgedMetric(match[1], match[2], match[3]) if match else None


def judge_rubric(name: str) -> str | None:
    """The rubric of ``judge:<rubric>`` or ``judge:<rubric>.<criterion>[...]``; else None."""
    if not name.startswith(JUDGE_PREFIX):
        return None
    return name.removeprefix(JUDGE_PREFIX).split(".", 1)[0]
