"""Rubric-driven autoraters: rubrics (YAML) -> judge prompts -> strict JSON verdicts -> store.

``rubric`` (specs and loading), ``render`` (prompts from shipped Jinja2 templates), ``parse``
(strict JSON verdicts), ``judge`` (pointwise, reference-guided, pairwise with position swap,
self-consistency), ``verdict`` (what a judge returns), ``distribution`` (G-Eval score
distributions), ``records`` (the ``judgments`` table), ``stored`` (stored samples -> subjects,
stored judgments -> aggregates), ``run`` (judging stored runs: pointwise, pairwise), ``task``
(a task's judges after its run), ``best_of_n`` (best-of-N selection by a judge), ``cli``
(``evalharness judge`` and ``judge-pairwise``). Nothing heavy is imported here.
"""
