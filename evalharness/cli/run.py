"""The ``run``, ``finalize``, ``list`` and ``report`` commands; ``register(app)`` adds them."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from evalharness.cli.options import DbOption, split
from evalharness.errors import ConfigError
from evalharness.formatting import MISSING, interval, number

# The options of ``run``, one name each so that its signature reads as a list.
_Config = Annotated[Path | None, typer.Argument(help="run config YAML (model, tasks, limit, tags)")]
_Model = Annotated[
    str | None, typer.Option(help="embedded | hf:<path-or-id> | openai:<model> | scripted")
]
_ModelArgs = Annotated[
    str | None,
    typer.Option(
        "--model-args",
        help="model options k=v,... (e.g. batch_size=4,device=cpu), over the run file's",
    ),
]
_Tasks = Annotated[list[str] | None, typer.Option(help="task names, comma-separated, or 'all'")]
_Limit = Annotated[int | None, typer.Option(min=1, help="at most N rows per task")]
_JsonOut = Annotated[Path | None, typer.Option("--json", help="write results as JSON here")]
_BatchSize = Annotated[int | None, typer.Option(min=1)]
_Device = Annotated[str | None, typer.Option(help="auto | cpu | cuda")]
_Dtype = Annotated[str | None, typer.Option(help="auto | float32 | bfloat16 | float16")]
_MaxLength = Annotated[int | None, typer.Option(min=2, help="context window for scoring")]
_Tag = Annotated[list[str] | None, typer.Option(help="tag the run (repeatable)")]
_Sampling = Annotated[
    str | None,
    typer.Option(help="e.g. temperature=0.7,top_p=0.9,seed=1; a [list] sweeps; best_of_n=4"),
]
_Cache = Annotated[bool, typer.Option(help="reuse identical earlier responses")]
_ChunkSize = Annotated[
    int, typer.Option(min=1, help="samples per model call, each stored as it ends")
]
_JudgeModel = Annotated[
    str | None,
    typer.Option(help="judge model spec for every task judge (overrides the task's)"),
]
_JudgeModelArgs = Annotated[
    str | None,
    typer.Option(help="the judge model's backend options, k=v,... like --model-args"),
]
_NumFewshot = Annotated[
    int | None, typer.Option(min=0, help="shots for every task (default: each task's own)")
]
_Resume = Annotated[str | None, typer.Option(help="continue the stored run RUN_ID")]
_RetryFailed = Annotated[
    bool, typer.Option(help="with --resume: send the samples that failed again")
]
_RunId = Annotated[
    str | None, typer.Option(help="with --shard: the run id every shard of one run shares")
]
_Shard = Annotated[
    str | None,
    typer.Option(help="I/N: run only items with index % N == I of the run --run-id"),
]
_Executor = Annotated[
    str, typer.Option(help="local (this process) or ray (one model replica per actor)")
]
_Replicas = Annotated[int, typer.Option(help="with --executor ray: model replicas")]
_RayAddress = Annotated[
    str | None, typer.Option(help="with --executor ray: a cluster (default $RAY_ADDRESS)")
]
_Report = Annotated[bool, typer.Option(help="write reports/<run_id>/ afterwards")]


def print_results(run_id: str, results: dict[str, dict[str, Any]]) -> None:
    """One line per metric; a metric with nothing to average (n = 0) shows — for value and CI;
    a judged one ends with its judge's stored agreement with people, or ``uncalibrated``."""
    from evalharness.ratings.agreement import trust_text  # the store: not for --help

    typer.echo(f"run {run_id}")
    width = max([18, *(len(m) for metrics in results.values() for m in metrics)])
    tw = max([16, *(len(task) for task in results)])  # mmlu_high_school_government_and_politics
    header = (
        f"{'task':<{tw}} {'metric':<{width}} {'value':>10}  {'95% CI':<23} {'n':>5} {'failed':>6}"
    )
    typer.echo(header)
    typer.echo("-" * len(header))
    for task, metrics in results.items():
        for metric, agg in metrics.items():
            n, failed = agg["n"], agg["n_failed"]  # a judge's failures: its unparsed answers
            value, ci = MISSING, MISSING
            if n:
                value, ci = number(agg["value"]), interval(agg["ci_low"], agg["ci_high"])
            trust = f"  · {trust_text(agg)}" if "agreement" in agg else ""
            typer.echo(
                f"{task:<{tw}} {metric:<{width}} {value:>10}  {ci:<23} {n:>5} {failed:>6}{trust}"
            )


def run(
    config: _Config = None,
    model: _Model = None,
    model_args: _ModelArgs = None,
    tasks: _Tasks = None,
    limit: _Limit = None,
    db: DbOption = None,
    json_out: _JsonOut = None,
    batch_size: _BatchSize = None,
    device: _Device = None,
    dtype: _Dtype = None,
    max_length: _MaxLength = None,
    tag: _Tag = None,
    sampling: _Sampling = None,
    cache: _Cache = True,
    chunk_size: _ChunkSize = 64,
    judge_model: _JudgeModel = None,
    judge_model_args: _JudgeModelArgs = None,
    num_fewshot: _NumFewshot = None,
    resume: _Resume = None,
    retry_failed: _RetryFailed = False,
    run_id: _RunId = None,
    shard: _Shard = None,
    executor: _Executor = "local",
    replicas: _Replicas = 1,
    ray_address: _RayAddress = None,
    report: _Report = True,
) -> None:
    """Evaluate a model on tasks; store every sample and print aggregates with 95% CIs.

    Exit status: 0 done, 2 bad input, 3 finished but every sample of some task failed.
    """
    from evalharness import api
    from evalharness.config import RunSpec, load_run_spec
    from evalharness.modelref import parse_model_args, parse_overrides
    from evalharness.shards import Executor, Shard

    if retry_failed and not resume:
        raise ConfigError("--retry-failed: only with --resume RUN_ID")
    if (shard is None) != (run_id is None):
        raise ConfigError("--shard and --run-id go together (N processes fill one run)")
    pool = Executor(executor, replicas, ray_address)
    if resume:
        result = api.resume(
            resume, db=db, retry_failed=retry_failed, on_start=_announce, executor=pool
        )
    else:
        spec = load_run_spec(config) if config else RunSpec()
        flags = {"batch_size": batch_size, "device": device, "dtype": dtype}
        flags["max_length"] = max_length
        options = {**spec.model_args, **parse_model_args(model_args)}
        options.update({key: value for key, value in flags.items() if value is not None})
        result = api.evaluate(
            model or spec.model,
            split(tasks) or list(spec.tasks),
            limit=limit or spec.limit,
            db=db,
            model_args=options,
            on_start=_announce,
            tags=split(tag) or list(spec.tags),
            sampling={**spec.sampling, **parse_overrides(sampling or "")},
            cache=cache,
            chunk_size=chunk_size,
            judge_model=judge_model or spec.judge_model,
            judge_model_args={
                **spec.judge_model_args,
                **parse_model_args(judge_model_args, "--judge-model-args"),
            },
            num_fewshot=num_fewshot,
            run_id=run_id,
            shard=Shard.parse(shard) if shard else None,
            executor=pool,
        )
        if shard and not result["results"]:
            typer.echo(f"shard {shard} of run {run_id} done; the last shard to finish aggregates")
            return
    _show(result, json_out, report, db)


def _show(result: dict[str, Any], json_out: Path | None, report: bool, db: str | None) -> None:
    """Results and usage on the terminal, the JSON and the report written; exit 3 when every
    sample of some task failed."""
    from evalharness.listing import usage_lines
    from evalharness.report import write_report
    from evalharness.store import open_store
    from evalharness.usage import all_failed

    print_results(result["run_id"], result["results"])
    for line in usage_lines(result["usage"]):
        typer.echo(line)
    if json_out:
        json_out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    if report:
        for path in write_report(open_store(db), result["run_id"]):
            typer.echo(f"wrote {path}")
    if failed := all_failed(result["usage"]):
        typer.echo(f"error: every sample failed in task(s) {', '.join(failed)}", err=True)
        raise typer.Exit(3)


def _announce(run: Any, store: Any) -> None:
    """The run id and the store, printed before the first sample runs."""
    url = store.engine.url.render_as_string(hide_password=True)
    typer.echo(f"run {run.id} · model {run.model} · store {url}")


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
    metrics = "metrics"
    rubrics = "rubrics"


def list_(what: Listing, db: DbOption = None) -> None:
    """List the tasks, the stored runs, the metrics or the rubrics."""
    if what is not Listing.tasks:
        from evalharness.listing import metrics_table, rubrics_table, runs_table
        from evalharness.store import open_store

        tables = {
            Listing.runs: lambda: runs_table(open_store(db)),
            Listing.metrics: metrics_table,
            Listing.rubrics: rubrics_table,
        }
        for line in tables[what]():
            typer.echo(line)
        return
    if what is Listing.tasks:
        from evalharness.catalog import task_files
        from evalharness.config import load_task

        for name, path in task_files().items():
            spec, _ = load_task(path)
            scores = [*spec.metrics, *(f"judge:{j.rubric}" for j in spec.judges)]
            typer.echo(f"{name:<16} {spec.output_type:<16} {', '.join(scores)}")


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


def register(app: typer.Typer) -> None:
    """Add ``run``, ``finalize``, ``list`` and ``report`` to the ``evalharness`` app."""
    app.command("run")(run)
    app.command("finalize")(finalize)
    app.command("list")(list_)
    app.command("report")(report_)
