"""Rubric-driven autoraters: rubrics (YAML) -> judge prompts -> strict JSON verdicts -> store.

``rubric`` (specs and loading), ``render`` (prompts from shipped Jinja2 templates), ``parse``
(strict JSON verdicts), ``judge`` (pointwise, reference-guided, pairwise with position swap,
self-consistency), ``records`` (the ``judgments`` table), ``run`` (judging stored runs),
and ``JUDGE_PREFIX``: judge scores are named ``judge:<rubric>.<criterion>`` and a best-of-N
selector ``judge:<rubric>``; ``judge_rubric`` is the one place that reads that prefix. The
commands are in ``evalharness.cli.judge``. Nothing heavy is imported here.
"""

JUDGE_PREFIX = "judge:"


def judge_rubric(name: str) -> str | None:
    """The rubric of ``judge:<rubric>`` or ``judge:<rubric>.<criterion>[...]``; else None."""
    if not name.startswith(JUDGE_PREFIX):
        return None
    return name.removeprefix(JUDGE_PREFIX).split(".", 1)[0]
