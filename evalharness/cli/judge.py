"""The ``judge``, ``judge-pairwise`` and ``bias`` commands; ``register(app)`` adds them to the CLI.

Heavy imports (the store, models, numpy) happen inside the commands so the CLI starts fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from evalharness.cli.options import DbOption
from evalharness.formatting import interval, number

JudgeModel = Annotated[
    str, typer.Option("--judge-model", help="judge model spec: embedded | hf:<path-or-id> | ...")
]
JudgeModelArgs = Annotated[
    str | None,
    typer.Option(
        "--judge-model-args",
        help="judge backend options, k=v,...: base_url=http://host:8000/v1,structured_output=auto",
    ),
]
JsonOut = Annotated[Path | None, typer.Option("--json", help="write the results as JSON here")]
SourceOption = Annotated[
    str | None,
    typer.Option(help="template over the dataset row shown as the input (default: the prompt)"),
]


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {path}")


def judge(
    run_id: Annotated[str, typer.Argument(help="the stored run to judge")],
    rubric: Annotated[str, typer.Option(help="rubric name (rubrics/) or path to a YAML file")],
    judge_model: JudgeModel = "embedded",
    judge_model_args: JudgeModelArgs = None,
    task: Annotated[str | None, typer.Option(help="only this task of the run")] = None,
    mode: Annotated[
        str | None, typer.Option(help="pointwise | reference_guided (default: the rubric's)")
    ] = None,
    n: Annotated[int, typer.Option(min=1, help="sampled answers per item (self-consistency)")] = 1,
    combine: Annotated[str, typer.Option(help="mean | majority, over the n answers")] = "mean",
    max_reasks: Annotated[int, typer.Option(min=0, help="re-asks after an invalid answer")] = 2,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="judge answer budget")] = None,
    source: SourceOption = None,
    limit: Annotated[int | None, typer.Option(min=1, help="the first N samples per task")] = None,
    db: DbOption = None,
    json_out: JsonOut = None,
) -> None:
    """Judge a stored run with a rubric: per-criterion scores with 95% CIs and unparsed counts.

    Samples already judged by the same judge model with the same rubric are not asked again.
    """
    from evalharness.errors import ConfigError
    from evalharness.judges.run import judge_run
    from evalharness.judges.stored import as_model
    from evalharness.modelref import parse_model_args
    from evalharness.store import open_store

    if combine not in ("mean", "majority"):
        raise ConfigError(f"--combine must be mean or majority, got {combine!r}")
    store = open_store(db)
    store.get_run(run_id)  # an unknown run fails before a model loads
    model = as_model(judge_model, parse_model_args(judge_model_args, "--judge-model-args"))
    results = judge_run(
        store,
        run_id,
        rubric,
        model,
        task=task,
        mode=mode,
        n=n,
        combine=combine,  # type: ignore[arg-type]
        max_reasks=max_reasks,
        max_tokens=max_tokens,
        source=source,
        limit=limit,
    )
    typer.echo(f"run {run_id}, rubric {rubric}, judge {model.name}")
    header = f"{'task':<18} {'criterion':<22} {'value':>8}  {'95% CI':<20} {'n':>5} {'unparsed':>8}"
    typer.echo(header)
    typer.echo("-" * len(header))
    for task_name, criteria in results.items():
        for name, agg in criteria.items():
            ci = interval(agg["ci_low"], agg["ci_high"])
            typer.echo(
                f"{task_name:<18} {name:<22} {number(agg['value']):>8}  {ci:<20} "
                f"{agg['n']:>5} {agg['n_unparsed']:>8}"
            )
    if json_out:
        data = {"run_id": run_id, "rubric": rubric, "judge": model.name, "results": results}
        _write_json(json_out, data)


def judge_pairwise(
    run_a: Annotated[str, typer.Argument(help="run A (the reference)")],
    run_b: Annotated[str, typer.Argument(help="run B (the candidate); win = B preferred")],
    task: Annotated[str, typer.Option(help="the task both runs answered")],
    rubric: Annotated[str, typer.Option(help="a pairwise rubric")] = "pairwise_preference",
    judge_model: JudgeModel = "embedded",
    judge_model_args: JudgeModelArgs = None,
    n: Annotated[int, typer.Option(min=1, help="sampled answers per order")] = 1,
    max_reasks: Annotated[int, typer.Option(min=0, help="re-asks after an invalid answer")] = 2,
    source: SourceOption = None,
    limit: Annotated[int | None, typer.Option(min=1, help="the first N shared samples")] = None,
    db: DbOption = None,
    json_out: JsonOut = None,
) -> None:
    """Judge run B against run A, each pair in both orders: win/tie/loss rates with 95% CIs."""
    from evalharness.judges.run import compare_pairwise
    from evalharness.judges.stored import as_model
    from evalharness.modelref import parse_model_args
    from evalharness.store import open_store

    store = open_store(db)
    for run_id in (run_a, run_b):
        store.get_run(run_id)
    model = as_model(judge_model, parse_model_args(judge_model_args, "--judge-model-args"))
    out = compare_pairwise(
        store,
        run_a,
        run_b,
        rubric,
        model,
        task,
        n=n,
        max_reasks=max_reasks,
        source=source,
        limit=limit,
    )
    typer.echo(f"A = {run_a}, B = {run_b}; task {task}, rubric {out['rubric']}, judge {model.name}")
    typer.echo("win = B preferred over A, loss = A preferred; orders that disagree count as ties")
    header = (
        f"{'criterion':<16} {'outcome':<12} {'rate':>7}  {'95% CI':<20} {'n':>5} {'unparsed':>8}"
    )
    typer.echo(header)
    typer.echo("-" * len(header))
    for name, rates in out["criteria"].items():
        for outcome in ("win", "tie", "loss", "consistency"):
            agg = rates[outcome]
            ci = interval(agg["ci_low"], agg["ci_high"])
            typer.echo(
                f"{name:<16} {outcome:<12} {number(agg['value']):>7}  {ci:<20} "
                f"{rates['n']:>5} {rates['n_unparsed']:>8}"
            )
    if json_out:
        _write_json(json_out, out)


def bias(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="a run whose answers to probe")],
    rubric: Annotated[str, typer.Option(help="the rubric the judge applies")],
    judge_model: JudgeModel = "embedded",
    judge_model_args: JudgeModelArgs = None,
    task: Annotated[str | None, typer.Option(help="only this task of the run")] = None,
    against: Annotated[
        str | None, typer.Option(help="pairwise rubrics: the second run (position probe)")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=2, help="the first N samples per task")] = None,
    n_boot: Annotated[int, typer.Option(min=1, help="bootstrap resamples per CI")] = 1000,
    db: DbOption = None,
    json_out: JsonOut = None,
) -> None:
    """Bias probes against a judge, stored: verbosity (filler appended) and injection (an
    instruction to the judge appended) for pointwise rubrics, position (both orders) for
    pairwise ones; a fair judge shifts by 0 or less and picks the first response half the time."""
    from dataclasses import asdict

    from evalharness.judges.probes import run_probes
    from evalharness.judges.stored import as_model
    from evalharness.modelref import parse_model_args
    from evalharness.store import open_store

    store = open_store(db)
    for run in (run_id, against):
        if run is not None:
            store.get_run(run)
    model = as_model(judge_model, parse_model_args(judge_model_args, "--judge-model-args"))
    found = run_probes(store, run_id, rubric, model, task=task, against=against, limit=limit,
                       n_boot=n_boot)  # fmt: skip
    typer.echo(f"judge {model.name} · rubric {rubric} · run {run_id}: {len(found)} stored")
    for probe in found:
        typer.echo(f"  {probe.task}: {probe.describe()}")
    if json_out:
        _write_json(json_out, {"probes": [asdict(p) for p in found]})


def register(app: typer.Typer) -> None:
    """Add ``judge``, ``judge-pairwise`` and ``bias`` to the ``evalharness`` app."""
    app.command("judge")(judge)
    app.command("judge-pairwise")(judge_pairwise)
    app.command("bias")(bias)
