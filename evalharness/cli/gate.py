"""The ``gate`` and ``compare`` commands; ``register(app)`` adds them to the CLI.

Heavy imports (numpy, the store, the metrics) happen inside the commands so that the CLI
starts fast.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from evalharness.cli.options import DbOption


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {path}")


def gate(
    gate_file: Annotated[Path, typer.Argument(help="gate YAML: a list of rules under 'gates:'")],
    run: Annotated[str, typer.Option("--run", help="the candidate run id")],
    baseline: Annotated[
        str | None,
        typer.Option(
            help="baseline RUN_ID, or latest:TAG (newest finished run with TAG and "
            "the candidate's model)"
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="write JUnit XML here")] = None,
    markdown: Annotated[Path | None, typer.Option(help="write a Markdown summary here")] = None,
    db: DbOption = None,
) -> None:
    """Check a run against a gate file. Exit 0: all rules pass, 1: a rule failed, 2: error."""
    from evalharness.gate import render as gate_report
    from evalharness.gate.rules import evaluate_gate, load_gate
    from evalharness.store import open_store

    spec = load_gate(gate_file)
    report = evaluate_gate(open_store(db), spec, run, baseline, source=str(gate_file))
    for line in gate_report.text_lines(report):
        typer.echo(line)
    if junit:
        _write(junit, gate_report.junit_xml(report))
    if markdown:
        _write(markdown, gate_report.markdown(report))
    for v in report.verdicts:
        if v.status == "error":
            typer.echo(f"error: {v.task}: {v.rule}: {'; '.join(v.reasons)}", err=True)
    raise typer.Exit(report.exit_code)


def _jsonable(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def compare(
    run_a: Annotated[str, typer.Argument(help="run A (the reference)")],
    run_b: Annotated[str, typer.Argument(help="run B; delta = B - A")],
    db: DbOption = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the rows as JSON")] = None,
) -> None:
    """Compare two runs on the samples they share: per task and metric, paired 95% CI and p."""
    from evalharness.formatting import interval, number
    from evalharness.gate.compare import compare_runs
    from evalharness.store import open_store

    rows = compare_runs(open_store(db), run_a, run_b)
    typer.echo(f"A = {run_a}, B = {run_b}; delta = B - A on shared samples (paired bootstrap)")
    header = (
        f"{'task':<16} {'metric':<18} {'A':>9} {'B':>9} {'delta':>9}  {'95% CI':<21} "
        f"{'p':>7} {'n':>5}"
    )
    typer.echo(header)
    typer.echo("-" * len(header))
    for r in rows:
        ci = interval(r.ci_low, r.ci_high)
        better = "" if r.higher_is_better else "  (lower is better)"
        typer.echo(
            f"{r.task:<16} {r.metric:<18} {number(r.value_a):>9} {number(r.value_b):>9} "
            f"{number(r.delta, '+.4g'):>9}  {ci:<21} {number(r.p_value, '.3g'):>7} {r.n_shared:>5}"
            f"{better}{'  ' + r.note if r.note else ''}"
        )
    if json_out:
        data = {
            "run_a": run_a,
            "run_b": run_b,
            "rows": [{k: _jsonable(v) for k, v in asdict(r).items()} for r in rows],
        }
        _write(json_out, json.dumps(data, indent=2) + "\n")


def register(app: typer.Typer) -> None:
    """Add ``gate`` and ``compare`` to the ``evalharness`` app."""
    app.command("gate")(gate)
    app.command("compare")(compare)
