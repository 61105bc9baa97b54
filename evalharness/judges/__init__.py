"""Rubric-driven autoraters: rubrics (YAML) -> judge prompts -> strict JSON verdicts -> store.

``rubric`` (specs and loading), ``render`` (prompts from shipped Jinja2 templates), ``parse``
(strict JSON verdicts), ``judge`` (pointwise, reference-guided, pairwise with position swap,
self-consistency), ``verdict`` (what a judge returns), ``distribution`` (G-Eval score
distributions), ``records`` (the ``judgments`` table), ``stored`` (stored samples -> subjects,
stored judgments -> aggregates), ``run`` (judging stored runs: pointwise, pairwise), ``task``
(a task's judges after its run), ``best_of_n`` (best-of-N selection by a judge). The commands
are in ``evalharness.cli.judge``. Judge scores are named ``judge:<rubric>.<criterion>`` and a
best-of-N selector ``judge:<rubric>``; ``judge_rubric`` is the one reader of that prefix.
Nothing heavy is imported here.
"""

JUDGE_PREFIX = "judge:"


def judge_rubric(name: str) -> str | None:
    """The rubric of ``judge:<rubric>`` or ``judge:<rubric>.<criterion>[...]``; else None."""
    if not name.startswith(JUDGE_PREFIX):
        return None
    return name.removeprefix(JUDGE_PREFIX).split(".", 1)[0]
