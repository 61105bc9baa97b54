"""The ``evalharness`` command line. User errors print one message and exit 2; no tracebacks."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from evalharness.errors import ConfigError, EvalHarnessError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="SQLAlchemy URL (default: $EVALHARNESS_DB or sqlite:///evalharness.db)"
    ),
]


def _show_version(value: bool) -> None:
    if value:
        from evalharness import __version__

        typer.echo(f"evalharness {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Evaluate language models: every sample stored, every aggregate with a CI."""


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def print_results(run_id: str, results: dict[str, dict[str, Any]]) -> None:
    """One line per metric; a metric with nothing to average (n = 0) shows — for value and CI."""
    typer.echo(f"run {run_id}")
    width = max([18, *(len(m) for metrics in results.values() for m in metrics)])
    header = (
        f"{'task':<16} {'metric':<{width}} {'value':>10}  {'95% CI':<23} {'n':>5} {'failed':>6}"
    )
    typer.echo(header)
    typer.echo("-" * len(header))
    for task, metrics in results.items():
        for metric, agg in metrics.items():
            n, failed = agg["n"], agg["n_failed"]  # a judge's failures: its unparsed answers
            value, ci = "—", "—"
            if n:
                value, ci = f"{agg['value']:.4g}", f"[{agg['ci_low']:.4g}, {agg['ci_high']:.4g}]"
            typer.echo(f"{task:<16} {metric:<{width}} {value:>10}  {ci:<23} {n:>5} {failed:>6}")


@app.command()
def run(
    config: Annotated[
        Path | None, typer.Argument(help="run config YAML (model, tasks, limit, tags)")
    ] = None,
    model: Annotated[str | None, typer.Option(help="embedded | hf:<path-or-id> | scripted")] = None,
    tasks: Annotated[
        list[str] | None, typer.Option(help="task names, comma-separated, or 'all'")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most N rows per task")] = None,
    db: DbOption = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write results as JSON here")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto | float32 | bfloat16 | float16")] = None,
    max_length: Annotated[
        int | None, typer.Option(min=2, help="context window for scoring")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="tag the run (repeatable)")] = None,
    sampling: Annotated[
        str | None,
        typer.Option(help="e.g. temperature=0.7,top_p=0.9,seed=1; a [list] sweeps; best_of_n=4"),
    ] = None,
    cache: Annotated[bool, typer.Option(help="reuse identical earlier responses")] = True,
    chunk_size: Annotated[
        int, typer.Option(min=1, help="samples per model call, each stored as it ends")
    ] = 64,
    judge_model: Annotated[
        str | None,
        typer.Option(help="judge model spec for every task judge (overrides the task's)"),
    ] = None,
    resume: Annotated[str | None, typer.Option(help="continue the stored run RUN_ID")] = None,
    run_id: Annotated[
        str | None, typer.Option(help="with --shard: the run id every shard of one run shares")
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(help="I/N: run only items with index % N == I of the run --run-id"),
    ] = None,
    executor: Annotated[
        str, typer.Option(help="local (this process) or ray (one model replica per actor)")
    ] = "local",
    replicas: Annotated[int, typer.Option(help="with --executor ray: model replicas")] = 1,
    ray_address: Annotated[
        str | None, typer.Option(help="with --executor ray: a cluster (default $RAY_ADDRESS)")
    ] = None,
    report: Annotated[bool, typer.Option(help="write reports/<run_id>/ afterwards")] = True,
) -> None:
    """Evaluate a model on tasks; store every sample and print aggregates with 95% CIs."""
    from evalharness import api
    from evalharness.config import RunSpec, load_run_spec
    from evalharness.report import write_report
    from evalharness.sampling import parse_overrides
    from evalharness.shards import Executor, Shard
    from evalharness.store import open_store

    if (shard is None) != (run_id is None):
        raise ConfigError("--shard and --run-id go together (N processes fill one run)")
    pool = Executor(executor, replicas, ray_address)
    if resume:
        result = api.resume(resume, db=db, executor=pool)
    else:
        spec = load_run_spec(config) if config else RunSpec()
        model_args = dict(spec.model_args)
        for key, value in (
            ("batch_size", batch_size),
            ("device", device),
            ("dtype", dtype),
            ("max_length", max_length),
        ):
            if value is not None:
                model_args[key] = value
        result = api.evaluate(
            model or spec.model,
            _split(tasks) or list(spec.tasks),
            limit=limit or spec.limit,
            db=db,
            model_args=model_args,
            tags=_split(tag) or list(spec.tags),
            sampling={**spec.sampling, **parse_overrides(sampling or "")},
            cache=cache,
            chunk_size=chunk_size,
            judge_model=judge_model or spec.judge_model,
            run_id=run_id,
            shard=Shard.parse(shard) if shard else None,
            executor=pool,
        )
        if shard and not result["results"]:
            typer.echo(f"shard {shard} of run {run_id} done; the last shard to finish aggregates")
            return
    print_results(result["run_id"], result["results"])
    if json_out:
        json_out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    if report:
        for path in write_report(open_store(db), result["run_id"]):
            typer.echo(f"wrote {path}")


@app.command()
def finalize(
    run_id: Annotated[str, typer.Argument(help="a run filled by --shard processes")],
    db: DbOption = None,
    report: Annotated[bool, typer.Option(help="write reports/<run_id>/ afterwards")] = True,
) -> None:
    """Aggregate and judge a sharded run once every shard has finished (the last shard
    does this itself; use it after a shard was re-run by hand)."""
    from evalharness import api
    from evalharness.report import write_report
    from evalharness.store import open_store

    result = api.finalize(run_id, db=db)
    print_results(result["run_id"], result["results"])
    if report:
        for path in write_report(open_store(db), result["run_id"]):
            typer.echo(f"wrote {path}")


class Listing(StrEnum):
    tasks = "tasks"
    runs = "runs"


@app.command("list")
def list_(what: Listing, db: DbOption = None) -> None:
    """List the bundled tasks or the stored runs."""
    if what is Listing.tasks:
        from evalharness.config import load_task, task_files

        for name, path in task_files().items():
            spec, _ = load_task(path)
            scores = [*spec.metrics, *(f"judge:{j.rubric}" for j in spec.judges)]
            typer.echo(f"{name:<16} {spec.output_type:<16} {', '.join(scores)}")
        return
    from evalharness.store import open_store

    for r in open_store(db).runs():
        tasks = ",".join(r.config.get("tasks", []))
        typer.echo(f"{r.id}  {r.status:<9} {r.model:<24} {tasks}  {','.join(r.tags)}")


@app.command("report")
def report_(
    run_id: str,
    db: DbOption = None,
    out: Annotated[Path, typer.Option(help="folder for reports/<run_id>/")] = Path("reports"),
) -> None:
    """Write the Markdown and HTML report of a stored run."""
    from evalharness.report import write_report
    from evalharness.store import open_store

    for path in write_report(open_store(db), run_id, out):
        typer.echo(f"wrote {path}")


# Commands that live beside the modules they drive; each module adds its own to the app.
from evalharness.app_cli import register as register_app  # noqa: E402
from evalharness.gate_cli import register as register_gate  # noqa: E402
from evalharness.judges.cli import register as register_judges  # noqa: E402
from evalharness.meta.cli import register as register_meta  # noqa: E402

for register in (register_gate, register_judges, register_meta, register_app):
    register(app)


def main() -> None:
    try:
        app()
    except EvalHarnessError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # unreadable config, unwritable output: the user's to fix
        typer.echo(f"error: {ConfigError(exc)}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
