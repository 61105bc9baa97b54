"""Markdown and HTML reports of a stored run, rendered with sandboxed Jinja2 templates.

Model outputs are untrusted text: HTML-escaped in the HTML report and fenced in Markdown.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from evalharness.formatting import number
from evalharness.judges import JUDGE_PREFIX
from evalharness.ratings.agreement import trust_text, with_agreement
from evalharness.ratings.ppi import run_ppi
from evalharness.store import Store
from evalharness.usage import add_up, run_usage

TEMPLATES = Path(__file__).parent / "templates"
SAMPLES_SHOWN = 5
CLIP = 1500


def _fence(text: Any) -> str:
    """A Markdown code block that the text cannot break out of."""
    text = "" if text is None else str(text)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _clip(text: Any, limit: int = CLIP) -> str:
    text = (
        ""
        if text is None
        else text
        if isinstance(text, str)
        else json.dumps(text, ensure_ascii=False)
    )
    return (
        text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters]"
    )


def _fmt(value: float | None) -> str:
    """Large values (a perplexity) keep five digits: ``1.2346e+05``."""
    return number(value, ".4g" if value is None or not abs(value) >= 1e5 else ".4e")


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fence=_fence, clip=_clip, fmt=_fmt)
    return env


def report_context(store: Store, run_id: str) -> dict[str, Any]:
    """What the templates show: the run, per task its aggregates, the first ``SAMPLES_SHOWN``
    samples without error, every failed sample (index and error only), usage and, where people
    rated part of the run, each judged mean by PPI (``ratings/ppi.py``); read with a
    few SQL queries per task (``LIMIT``, the failed-samples index, stored usage), never by
    loading the run's samples."""
    run = store.get_run(run_id)
    tasks: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        empty = {"aggregates": [], "samples": [], "failed": [], "usage": {}, "trust": {}}
        return tasks.setdefault(name, empty)

    for agg in store.aggregates(run_id):
        entry(agg.task)["aggregates"].append(agg)
    judged = {name: {a.metric: {} for a in task["aggregates"] if a.metric.startswith(JUDGE_PREFIX)}
              for name, task in tasks.items()}  # fmt: skip
    with_agreement(store, run_id, judged)  # each judged number beside its judge's agreement
    for name, task in tasks.items():
        task["trust"] = {metric: trust_text(agg) for metric, agg in judged[name].items()}
    usage = run_usage(store, run_id)
    for name in store.sample_tasks(run_id):
        task = entry(name)
        task["samples"] = store.sample_page(run_id, name, limit=SAMPLES_SHOWN, ok_only=True)[0]
        task["failed"] = store.failed_samples(run_id, name)
    for name, task in tasks.items():
        stored = usage["tasks"].get(name) or add_up([])
        task["usage"] = {
            **stored,
            "n": stored["samples"],
            "latency_p50": store.median_latency(run_id, name),
        }
    return {"run": run, "tasks": tasks, "total": usage["total"], "ppi": run_ppi(store, run_id)}


def write_report(store: Store, run_id: str, out_dir: Path = Path("reports")) -> list[Path]:
    context = report_context(store, run_id)
    folder = out_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, autoescape in (("report.md", False), ("report.html", True)):
        text = _environment(autoescape).get_template(f"{name}.j2").render(context)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
