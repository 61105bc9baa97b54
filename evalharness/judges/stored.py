"""From stored samples to judge subjects, and from stored judgments to aggregates.

Aggregates are means with percentile-bootstrap 95% CIs over samples
(``metrics.stats.summarize``), with ``n`` parsed samples and ``n_unparsed`` alongside; label
scales give the rate of each label. A pairwise pair counts only when both of its orders
parsed; a pair whose orders disagree is a tie.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import TemplateError

from evalharness.errors import ConfigError
from evalharness.judges.distribution import summary as distribution_summary
from evalharness.judges.judge import Combine, combine_values, winner_of
from evalharness.judges.records import Judgment
from evalharness.judges.render import Subject
from evalharness.judges.rubric import Rubric, load_rubric
from evalharness.judges.verdict import Verdict
from evalharness.metrics.base import Metric
from evalharness.metrics.stats import summarize
from evalharness.models.base import Model
from evalharness.prompts import prompt_text, render
from evalharness.store import Sample

MEAN = Metric("judge_mean", "generate", lambda _: np.zeros((0, 2)), lambda s: s[0] / s[1])
Value = float | str | None


def as_rubric(rubric: str | Path | Rubric) -> Rubric:
    return rubric if isinstance(rubric, Rubric) else load_rubric(rubric)


def as_model(judge_model: str | Model, options: dict[str, Any] | None = None) -> Model:
    """A judge model: a loaded one as is, or a spec string loaded with its backend options."""
    if not isinstance(judge_model, str):
        return judge_model
    from evalharness.models import load_model

    return load_model(judge_model, **(options or {}))


def subject_of(sample: Sample, source: str | None = None, output: str | None = None) -> Subject:
    """What the judge sees of a stored sample. ``source`` and ``output`` are templates over the
    dataset row (defaults: the prompt the model saw, and its answer) that may also use
    ``model_answers`` (the model's answer to every turn of a multi-turn chat) and ``retrieved``
    (a RAG task's passages: id, score, text); the reference is the first non-empty one."""
    result = sample.result or {}
    turns = (result.get("meta") or {}).get("turns") or [sample.output]
    context = {"model_answers": turns, "retrieved": result.get("retrieved") or [], **sample.input}
    shown = {}
    for name, template in (("source", source), ("output", output)):
        try:
            shown[name] = render(template, context) if template else None
        except TemplateError as exc:
            raise ConfigError(f"judge {name} template: sample {sample.idx}: {exc}") from None
    refs = sample.reference if isinstance(sample.reference, list) else [sample.reference]
    reference = next((str(r) for r in refs if r is not None and str(r).strip()), None)
    return Subject(source=shown["source"] if source else sample.prompt,
                   output=shown["output"] if output else sample.output or "",
                   reference=reference)  # fmt: skip


def rows_of(
    verdict: Verdict,
    sample: Sample,
    rubric: Rubric,
    judge: str,
    *,
    mode: str | None = None,
    order: str | None = None,
    other_run_id: str | None = None,
    extra: Mapping[str, dict[str, Any]] | None = None,
) -> list[Judgment]:
    """One row per criterion of a verdict (unparsed: no score, the raw answer kept)."""
    rows = []
    for c in rubric.criteria:
        result = verdict.results[c.name] if verdict.results else None
        details: dict[str, Any] = {"n": len(verdict.raws), "attempts": list(verdict.attempts)}
        if len(verdict.raws) > 1:
            details["raws"] = list(verdict.raws)
            details["values"] = [s[c.name].value if s else None for s in verdict.samples]
        if any(verdict.errors):
            details["parse_errors"] = list(verdict.errors)
        if any(len(r) > 1 for r in verdict.replies):  # re-asked: keep the earlier replies too
            details["replies"] = [list(r) for r in verdict.replies]
        if result is not None and result.errors:
            details["mqm_errors"] = list(result.errors)
        if verdict.structured is not None:  # e.g. "xgrammar", "json_object", "none (...)"
            details["structured_output"] = verdict.structured
        if verdict.distributions and c.name in verdict.distributions:
            details["distribution"] = verdict.distributions[c.name]
            if c.kind == "score":  # expected (G-Eval) and argmax score
                details |= distribution_summary(verdict.distributions[c.name])
        details.update((extra or {}).get(c.name, {}))
        rows.append(
            Judgment(
                run_id=sample.run_id,
                task=sample.task,
                idx=sample.idx,
                rubric=rubric.name,
                criterion=c.name,
                judge=judge,
                mode=mode or verdict.mode,
                score=result.score if result else None,
                label=result.label if result else None,
                rationale=result.rationale if result else None,
                prompt=prompt_text(verdict.prompt),
                raw_output=verdict.raws[0] if verdict.raws else "",
                parsed=result is not None,
                order=order,
                other_run_id=other_run_id,
                details=details,
            )
        )
    return rows


def summary(stats: list[list[float]], n_unparsed: int) -> dict[str, Any]:
    agg = summarize(MEAN, np.array(stats, dtype=float).reshape(-1, 2))
    return {
        "value": agg.value,
        "ci_low": agg.ci_low,
        "ci_high": agg.ci_high,
        "n": agg.n,
        "n_unparsed": n_unparsed,
        "n_failed": n_unparsed,  # the runner's name for it, so results print alike
    }


def aggregate_values(values: Mapping[str, Sequence[Value]], rubric: Rubric) -> dict[str, dict]:
    """Per criterion: mean score with a bootstrap CI (label scales: the rate of each label)."""
    out: dict[str, dict] = {}
    for c in rubric.criteria:
        vals = list(values.get(c.name, ()))
        parsed = [v for v in vals if v is not None]
        unparsed = len(vals) - len(parsed)
        if c.kind != "label":
            out[c.name] = summary([[float(v), 1.0] for v in parsed], unparsed)  # type: ignore[arg-type]
            continue
        assert c.scale is not None
        for label in c.scale.labels:
            out[f"{c.name}:{label}"] = summary([[float(v == label), 1.0] for v in parsed], unparsed)
    return out


def distribution_aggregates(
    rows: Sequence[Judgment], rubric: Rubric, idxs: set[int] | None = None
) -> dict[str, dict]:
    """``<criterion>.expected`` and ``<criterion>.argmax`` (G-Eval) of the rows that carry a
    score distribution; empty when none does (a server judge, or distributions off)."""
    out: dict[str, dict] = {}
    for c in rubric.criteria:
        mine = [r for r in rows if r.criterion == c.name and (idxs is None or r.idx in idxs)]
        scored = [r.details for r in mine if r.parsed and "expected" in (r.details or {})]
        if c.kind != "score" or not scored:
            continue
        for key in ("expected", "argmax"):
            out[f"{c.name}.{key}"] = summary(
                [[float(d[key]), 1.0] for d in scored], len(mine) - len(scored)
            )
    return out


def values_of(
    rows: Sequence[Judgment], idxs: set[int] | None = None
) -> dict[str, dict[int, Value]]:
    """{criterion: {idx: score or label or None}} of pointwise rows."""
    out: dict[str, dict[int, Value]] = {}
    for r in rows:
        if idxs is None or r.idx in idxs:
            value = (r.label if r.label is not None else r.score) if r.parsed else None
            out.setdefault(r.criterion, {})[r.idx] = value
    return out


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def panel(
    per_judge: Mapping[str, Mapping[str, Mapping[int, Value]]], rubric: Rubric, how: Combine
) -> dict[str, list[Value]]:
    """Per criterion and sample, the judges' parsed values combined (None if none parsed)."""
    out: dict[str, list[Value]] = {}
    for c in rubric.criteria:
        idxs = sorted({i for values in per_judge.values() for i in values.get(c.name, {})})
        combined: list[Value] = []
        for i in idxs:
            parsed = [
                v
                for values in per_judge.values()
                if (v := values.get(c.name, {}).get(i)) is not None
            ]
            combined.append(combine_values(parsed, c, how) if parsed else None)
        out[c.name] = combined
    return out


def pair_rates(rows: Sequence[Judgment], rubric: Rubric, shared: set[int]) -> dict[str, Any]:
    labels: dict[tuple[str, int], dict[str, str | None]] = {}
    for r in rows:
        if r.idx in shared:
            labels.setdefault((r.criterion, r.idx), {})[r.order or ""] = (
                r.label if r.parsed else None
            )
    out = {}
    for c in rubric.criteria:
        outcomes, agree, unparsed = [], [], 0
        for i in sorted(shared):
            pair = labels.get((c.name, i), {})
            ab, ba = pair.get("AB"), pair.get("BA")
            if ab is None or ba is None:
                unparsed += 1
                continue
            first, second = winner_of(ab, "AB"), winner_of(ba, "BA")
            agree.append(float(first == second))
            outcomes.append(first if first == second else "tie")
        out[c.name] = {
            name: summary([[float(o == key), 1.0] for o in outcomes], unparsed)
            for name, key in (("win", "b"), ("tie", "tie"), ("loss", "a"))
        } | {
            "consistency": summary([[x, 1.0] for x in agree], unparsed),
            "n": len(outcomes),
            "n_unparsed": unparsed,
        }
    return out
