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
    run = store.get_run(run_id)
    aggregates = store.aggregates(run_id)
    samples = store.samples(run_id)
    tasks: dict[str, dict[str, Any]] = {}
    for agg in aggregates:
        tasks.setdefault(agg.task, {"aggregates": [], "samples": [], "failed": [], "usage": {}})
        tasks[agg.task]["aggregates"].append(agg)
    for sample in samples:
        task = tasks.setdefault(
            sample.task, {"aggregates": [], "samples": [], "failed": [], "usage": {}}
        )
        if sample.error:
            task["failed"].append(sample)
        elif len(task["samples"]) < SAMPLES_SHOWN:
            task["samples"].append(sample)
    usage = run_usage(store, run_id)
    for name, task in tasks.items():
        rows = [s.latency_s for s in samples if s.task == name and s.latency_s is not None]
        latencies = sorted(rows)
        stored = usage["tasks"].get(name) or add_up([])
        task["usage"] = {
            **stored,
            "n": stored["samples"],
            "latency_p50": latencies[len(latencies) // 2] if latencies else None,
        }
    return {"run": run, "tasks": tasks, "total": usage["total"]}


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
