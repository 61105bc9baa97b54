"""Rubric-driven autoraters: rubrics (YAML) -> judge prompts -> strict JSON verdicts -> store.

``rubric`` (specs and loading), ``render`` (prompts from shipped Jinja2 templates), ``parse``
(strict JSON verdicts), ``judge`` (pointwise, reference-guided, pairwise with position swap,
self-consistency), ``records`` (the ``judgments`` table), ``run`` (judging stored runs),
``cli`` (``evalharness judge`` and ``judge-pairwise``). Nothing heavy is imported here.
"""
