"""lm-eval's ``generation_kwargs``, ``metric_list`` and ``filter_list`` → ``TaskSpec`` fields.

Multiple choice: ``acc``, ``acc_norm`` (ours compute lm-eval's). Generation: ``exact_match``
becomes ``lm_exact_match,FILTER`` for each filter pipeline (lm-eval reports
``exact_match,FILTER``), its options becoming the task's ``match``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalharness.errors import ConfigError

MC_METRICS = {"acc": "acc", "acc_norm": "acc_norm"}
GEN_METRICS = {"exact_match": "lm_exact_match"}
MATCH_OPTIONS = ("regexes_to_ignore", "ignore_case", "ignore_punctuation", "ignore_numbers")
METRIC_KEYS = {"metric", "aggregation", "higher_is_better", *MATCH_OPTIONS}
FILTER_PARAMS = {"regex": {"regex_pattern", "group_select", "fallback"}}
FILTER_FUNCTIONS = ("regex", "take_first", "lowercase", "uppercase", "remove_whitespace")
GEN_KEYS = {"until", "max_gen_toks", "do_sample", "temperature", "top_p", "top_k"}


def generation(kwargs: dict[str, Any], path: Path, delimiter: str = "\n\n") -> dict[str, Any]:
    """``generation_kwargs`` → our ``generation:`` (``Sampling``) fields."""
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{path}: generation_kwargs: expected a mapping")
    for key in kwargs:
        if key not in GEN_KEYS:
            raise ConfigError(f"{path}: generation_kwargs.{key}: not supported")
    until = kwargs.get("until", [delimiter])
    until = [until] if isinstance(until, str) else list(until)
    out: dict[str, Any] = {"stop": until, "max_tokens": kwargs.get("max_gen_toks", 256)}
    sample = kwargs.get("do_sample", False)
    out["temperature"] = float(kwargs.get("temperature", 1.0)) if sample else 0.0
    for key in ("top_p", "top_k"):
        if key in kwargs and sample:
            out[key] = kwargs[key]
    return out


def _pipelines(config: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """``filter_list`` → our ``answer_filters`` (lm-eval's default is one pipeline, none)."""
    filters = config.get("filter_list")
    if filters is None:
        return [{"name": "none", "steps": []}]
    if not isinstance(filters, list):
        raise ConfigError(f"{path}: filter_list: expected a list of filter pipelines")
    out = []
    for i, pipeline in enumerate(filters):
        where = f"{path}: filter_list.{i}"
        if not isinstance(pipeline, dict) or set(pipeline) - {"name", "filter"}:
            raise ConfigError(f"{where}: expected 'name' and 'filter' only")
        steps = []
        for j, step in enumerate(pipeline.get("filter") or []):
            function = step.get("function") if isinstance(step, dict) else None
            if function not in FILTER_FUNCTIONS:
                raise ConfigError(f"{where}.filter.{j}.function: {function!r} not supported")
            extra = set(step) - {"function"} - FILTER_PARAMS.get(function, set())
            if extra:
                raise ConfigError(f"{where}.filter.{j}.{sorted(extra)[0]}: not supported")
            steps.append(step)
        out.append({"name": str(pipeline.get("name", "none")), "steps": steps})
    return out


def _metric_entries(config: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    entries = config.get("metric_list")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: metric_list: expected a non-empty list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "metric" not in entry:
            raise ConfigError(f"{path}: metric_list.{i}: expected a mapping with 'metric'")
        extra = set(entry) - METRIC_KEYS
        if extra:
            raise ConfigError(f"{path}: metric_list.{i}.{sorted(extra)[0]}: not supported")
        if entry.get("aggregation", "mean") != "mean":
            raise ConfigError(f"{path}: metric_list.{i}.aggregation: only 'mean' is supported")
    return entries


def scoring(config: dict[str, Any], output_type: str, path: Path) -> dict[str, Any]:
    """``metrics``, ``answer_filters`` and ``match`` of the spec."""
    entries = _metric_entries(config, path)
    known = MC_METRICS if output_type == "multiple_choice" else GEN_METRICS
    names = []
    for i, entry in enumerate(entries):
        if entry["metric"] not in known:
            raise ConfigError(
                f"{path}: metric_list.{i}.metric: {entry['metric']!r} is not supported for "
                f"{config.get('output_type', 'generate_until')} (supported: {', '.join(known)})"
            )
        names.append(known[entry["metric"]])
    if output_type == "multiple_choice":
        if "filter_list" in config:
            raise ConfigError(f"{path}: filter_list: not supported for multiple_choice")
        return {"metrics": names}
    options = [{k: e[k] for k in MATCH_OPTIONS if k in e} for e in entries]
    if any(o != options[0] for o in options):
        raise ConfigError(f"{path}: metric_list: exact_match listed with different options")
    pipelines = _pipelines(config, path)
    metrics = [f"{name},{p['name']}" for p in pipelines for name in names]
    return {"metrics": metrics, "answer_filters": pipelines, "match": options[0]}
