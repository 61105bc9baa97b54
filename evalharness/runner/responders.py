"""One responder per output type: an item list -> requests -> the model -> sample rows.

``generate`` (with best-of-N and multi-turn conversations), ``multiple_choice`` (log-likelihood
of each choice), ``perplexity`` (rolling log-likelihood); ``score`` adds the metric statistics.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from evalharness.config import TaskSpec
from evalharness.conversation import converse
from evalharness.extract import EXTRACTORS
from evalharness.filters import apply_steps
from evalharness.items import Item
from evalharness.metrics.base import Outcome
from evalharness.models.base import Model
from evalharness.prompts import prompt_text
from evalharness.rag.pipeline import rag_record
from evalharness.requests import GenerateRequest, LoglikelihoodRequest, RollingRequest
from evalharness.runner.plan import PlannedTask
from evalharness.sampling import mean_logprob_choice
from evalharness.store import Sample

_WHITESPACE = re.compile(r"\s+")


def _base_sample(spec: TaskSpec, item: Item, **fields: Any) -> Sample:
    return Sample(task=spec.name, idx=item.idx, input=item.row, **fields)


def _generate(
    task: PlannedTask, model: Model, items: list[Item]
) -> list[tuple[Sample, Outcome | None]]:
    spec = task.spec
    seeded = spec.generation.seed is not None and not spec.generation.greedy
    requests = [
        GenerateRequest(item.prompt, spec.generation, item.idx if seeded else None)
        for item in items
    ]
    extract = EXTRACTORS[spec.answer_extractor]
    if any(item.followups for item in items):
        generations = converse(model, requests, [item.followups for item in items])
    else:
        generations = model.generate(requests)
    chosen = _select_best(task, model, items, generations) if task.best_of_n else {}
    out = []
    for i, (item, gen) in enumerate(zip(items, generations, strict=True)):
        text = gen.texts[chosen.get(i, 0)] if gen.texts else None
        answer = extract(text) if gen.error is None and text is not None else None
        result: dict[str, Any] = {"texts": list(gen.texts), "answer": answer, **_meta(gen)}
        filtered = _filtered(spec, answer)
        if filtered:
            result["filtered"] = filtered
        if i in chosen:
            result["selected"] = chosen[i]
        sample = _base_sample(
            spec,
            item,
            prompt=prompt_text(item.prompt),
            output=text,
            reference=list(item.references),
            result={**result, **rag_record(spec.rag, item.retrieved, item.gold_passages)},
            latency_s=gen.latency_s,
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens,
            error=gen.error,
        )
        outcome = (
            None
            if gen.error
            else Outcome(
                prediction=answer,
                predictions=tuple(extract(t) for t in gen.texts),
                references=item.references,
                retrieved_ids=tuple(hit.id for hit in item.retrieved),
                gold_ids=item.gold_passages,
                filtered=filtered,
            )
        )
        out.append((sample, outcome))
    return out


def _filtered(spec: TaskSpec, answer: str | None) -> dict[str, str]:
    """The answer through each of the task's named answer filters (none without an answer)."""
    if answer is None:
        return {}
    return {f.name: apply_steps(f.steps, answer) for f in spec.answer_filters}


def _meta(gen: Any) -> dict[str, Any]:
    """Backend extras worth keeping per sample: attempts, time to first token, cost."""
    return {"meta": gen.meta} if gen.meta else {}


def _select_best(
    task: PlannedTask, model: Model, items: list[Item], generations: list[Any]
) -> dict[int, int]:
    """Best-of-N (``sampling.BestOfN``): per item without error, the index of the candidate the
    selector prefers. A judge selector (``judges.best_of_n.select_best``) never sees the reference;
    it is ``task.selector``, else the evaluated model itself."""
    ok = [i for i, gen in enumerate(generations) if gen.error is None]
    rubric = task.best_of_n.rubric if task.best_of_n else None
    if rubric is not None:
        from evalharness.judges.best_of_n import select_best

        groups = [(prompt_text(items[i].prompt), generations[i].texts) for i in ok]
        picks = select_best(groups, rubric, task.selector or model)
        return dict(zip(ok, picks, strict=True))
    asks = [
        LoglikelihoodRequest(items[i].prompt, text) for i in ok for text in generations[i].texts
    ]
    scored = iter(model.loglikelihood(asks))
    chosen = {}
    for i in ok:
        results = [next(scored) for _ in generations[i].texts]
        chosen[i] = mean_logprob_choice(
            list(generations[i].texts), [r.logprob for r in results], [r.n_tokens for r in results]
        )
    return chosen


def _multiple_choice(
    task: PlannedTask, model: Model, items: list[Item]
) -> list[tuple[Sample, Outcome | None]]:
    spec = task.spec
    requests = [
        LoglikelihoodRequest(item.prompt, spec.target_delimiter + choice)
        for item in items
        for choice in item.choices
    ]
    results = iter(model.loglikelihood(requests))
    out = []
    for item in items:
        scored = [next(results) for _ in item.choices]
        error = next((r.error for r in scored if r.error), None)
        logprobs = tuple(r.logprob for r in scored)
        costs = [r.meta["cost_usd"] for r in scored if "cost_usd" in r.meta]
        sample = _base_sample(
            spec,
            item,
            prompt=prompt_text(item.prompt),
            output=None if error else item.choices[int(np.argmax(logprobs))],
            reference=item.choices[item.gold],
            result={
                "choices": list(item.choices),
                "logprobs": list(logprobs),
                "is_greedy": [r.is_greedy for r in scored],
                "n_tokens": [r.n_tokens for r in scored],
                "gold": item.gold,
                **({"meta": {"cost_usd": sum(costs)}} if costs else {}),
            },
            prompt_tokens=sum(r.prompt_tokens for r in scored),
            completion_tokens=sum(r.completion_tokens for r in scored),
            error=error,
        )
        outcome = (
            None
            if error
            else Outcome(choices=item.choices, choice_logprobs=logprobs, gold=item.gold)
        )
        out.append((sample, outcome))
    return out


def _perplexity(
    task: PlannedTask, model: Model, items: list[Item]
) -> list[tuple[Sample, Outcome | None]]:
    spec = task.spec
    results = model.loglikelihood_rolling([RollingRequest(item.text) for item in items])
    out = []
    for item, res in zip(items, results, strict=True):
        n_words = len(_WHITESPACE.split(item.count_text))
        n_bytes = len(item.count_text.encode("utf-8"))
        sample = _base_sample(
            spec,
            item,
            prompt="",
            result={
                "logprob": res.logprob,
                "n_tokens": res.n_tokens,
                "n_words": n_words,
                "n_bytes": n_bytes,
                **({"meta": dict(res.meta)} if res.meta else {}),
            },
            prompt_tokens=res.prompt_tokens or res.n_tokens,
            completion_tokens=res.completion_tokens,
            error=res.error,
        )
        outcome = (
            None
            if res.error
            else Outcome(
                logprob=res.logprob, n_tokens=res.n_tokens, n_words=n_words, n_bytes=n_bytes
            )
        )
        out.append((sample, outcome))
    return out


RESPONDERS = {"generate": _generate, "multiple_choice": _multiple_choice, "perplexity": _perplexity}


def score(rows: list[tuple[Sample, Outcome | None]], metrics: list[Any]) -> None:
    """Attach per-sample sufficient statistics and values; failed samples get none."""
    scored = [(sample, outcome) for sample, outcome in rows if outcome is not None]
    for sample, _ in rows:
        sample.scores, sample.stats = {}, {}
    if not scored:
        return
    outcomes = [outcome for _, outcome in scored]
    for metric in metrics:
        matrix = np.asarray(metric.stats(outcomes), dtype=float)
        for (sample, _), row in zip(scored, matrix, strict=True):
            sample.stats[metric.name] = row.tolist()
            sample.scores[metric.name] = metric.value(row[None, :])
