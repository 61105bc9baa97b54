"""Score distributions of a verdict (G-Eval's probability weighting, Liu et al. 2023).

For every integer-scale criterion of a parsed verdict, the probability of each scale value
given the judge's prompt and its own answer up to that score: the context is the rendered
prompt plus the answer's text up to ``"score":``, and each value is scored as the continuation
``<value>}`` (the constrained answer's next characters), so multi-token values such as "10"
are scored in full and "1" is not confused with the start of "10". The log-likelihoods come
from one batched ``loglikelihood`` call (choices of one criterion share their context in one
packed pass on transformers) and are normalised over the scale. The expected score is the
probability-weighted mean, the argmax the most probable value.

Exact on backends that score a rendered chat prompt (transformers). OpenAI-compatible servers
score text through ``/v1/completions`` only and cannot render the judge's chat, so no
distribution is computed there (llama-cpp-python 0.3.36 also echoes log-probabilities one
position late for SmolLM2; see ``models/openai_api.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evalharness.requests import LoglikelihoodRequest

if TYPE_CHECKING:
    from evalharness.judges.rubric import Rubric
    from evalharness.judges.verdict import Verdict
    from evalharness.models.base import Model


def renderer(model: Model) -> Any:
    """The backend's chat renderer when it scores continuations of a rendered chat prompt
    (transformers, possibly behind the response cache), else None."""
    if "loglikelihood" not in model.capabilities:
        return None
    for candidate in (model, getattr(model, "model", None)):
        render = getattr(candidate, "_render", None)
        if callable(render):
            return render
    return None


def value_prefix(raw: str, criterion: str, key: str) -> str | None:
    """``raw`` up to and including the ``"<key>":`` of ``criterion`` (None when absent)."""
    start = raw.find(json.dumps(criterion) + ":")
    if start == -1:
        return None
    at = raw.find(f'"{key}":', start)
    return None if at == -1 else raw[: at + len(key) + 3]


def normalise(logprobs: Sequence[float]) -> list[float]:
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def summary(distribution: dict[str, float]) -> dict[str, float]:
    """Expected score and argmax score of an integer scale's ``{value: probability}``."""
    expected = sum(int(v) * p for v, p in distribution.items())
    argmax = max(distribution, key=lambda v: (distribution[v], -int(v)))
    return {"expected": expected, "argmax": float(int(argmax))}


def distributions(
    model: Model, rubric: Rubric, verdicts: Sequence[Verdict]
) -> list[dict[str, dict[str, float]] | None]:
    """Per verdict, ``{criterion: {value: probability}}`` for its score and label criteria
    (pairwise: P(A), P(B), P(tie)); None where nothing could be scored."""
    render = renderer(model)
    if render is None:
        return [None] * len(verdicts)
    plan: list[tuple[int, str, tuple[str, ...]]] = []
    requests: list[LoglikelihoodRequest] = []
    for k, verdict in enumerate(verdicts):
        if not verdict.samples or verdict.samples[0] is None:
            continue
        rendered = render(verdict.prompt)
        for c in rubric.criteria:
            if c.kind == "errors" or c.scale is None:
                continue
            prefix = value_prefix(verdict.raws[0], c.name, c.kind)
            if prefix is None:
                continue
            values = c.scale.values()
            texts = values if c.kind == "score" else tuple(json.dumps(v) for v in values)
            plan.append((k, c.name, values))
            requests += [LoglikelihoodRequest(rendered + prefix, t + "}") for t in texts]
    out: list[dict[str, dict[str, float]] | None] = [None] * len(verdicts)
    if not requests:
        return out
    results = iter(model.loglikelihood(requests))
    for k, name, values in plan:
        scored = [next(results) for _ in values]
        if any(r.error for r in scored):
            continue
        probs = normalise([r.logprob for r in scored])
        out[k] = (out[k] or {}) | {name: dict(zip(values, probs, strict=True))}
    return out
