"""The ``ratings`` and ``calibrate`` commands; ``register(app)`` adds them to the CLI.

Heavy imports (pandas, scipy, the store) happen inside the commands so that the CLI starts fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from evalharness.cli.options import DbOption
from evalharness.errors import ConfigError

DataDirOption = Annotated[
    Path | None,
    typer.Option(help="folder holding the data sets (default: the sets bundled with evalharness)"),
]

ratings_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Human ratings: import them (a file or a bundled data set), export them, plan them.",
)

IMPORT_HELP = """Import ratings from FILE (CSV or JSONL, one rating per row) or a bundled set.

\b
FILE columns (see evalharness/ratings/files.py):
  required: item_id, annotator, criterion, and score and/or label
  rating:   rubric (default "default"), comment, annotator_kind
            (human | judge | metric; default human), annotator_name
  item:     dataset (default --dataset, else the file name), group_id,
            system_id, source, context, response, response_b,
            reference (text, or a JSON list of texts), extra (JSON object),
            run_id, task, sample_idx
A changed rating is stored as a new row superseding the old one.

\b
--dataset NAME without FILE imports a bundled human-judgment set: summeval,
unieval-meta, realsumm, wmt-mqm-ted-ende, llmbar-pairwise, pandalm-testset.
"""


@ratings_app.command("import", help=IMPORT_HELP)
def import_(
    file: Annotated[
        Path | None, typer.Argument(metavar="FILE", help="CSV or JSONL ratings file")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="bundled set to import; with FILE: dataset of rows that name none"),
    ] = None,
    data_dir: DataDirOption = None,
    db: DbOption = None,
) -> None:
    from evalharness.ratings.files import import_file
    from evalharness.ratings.importers import import_dataset
    from evalharness.store import open_store

    if file is None and dataset is None:
        raise ConfigError("ratings import: give a FILE or --dataset NAME")
    store = open_store(db)
    if file is not None:
        result = import_file(store, file, dataset)
    else:
        result = import_dataset(store, str(dataset), data_dir)
    typer.echo(
        f"{result.dataset}: {result.items} items ({result.new_items} new), "
        f"{result.ratings} ratings ({result.new_ratings} rows written)"
    )


@ratings_app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="CSV file to write")],
    dataset: Annotated[str | None, typer.Option(help="only this dataset")] = None,
    all_versions: Annotated[
        bool, typer.Option(help="include superseded ratings (audit trail)")
    ] = False,
    db: DbOption = None,
) -> None:
    """Export ratings with their items to CSV, in the columns that `ratings import` reads."""
    from evalharness.ratings.files import export_csv
    from evalharness.store import open_store

    n = export_csv(open_store(db), out, dataset, all_versions)
    typer.echo(f"wrote {n} ratings to {out}")


@ratings_app.command("plan")
def plan(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="a judged run")],
    budget: Annotated[int, typer.Option(min=0, help="how many more samples people can rate")],
    target: Annotated[
        float | None,
        typer.Option(min=0.0, help="a target PPI CI half-width: how many rated samples it needs"),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write it as JSON")] = None,
    db: DbOption = None,
) -> None:
    """Which samples of a judged run people should rate next (the desk's order, a random
    choice, so PPI stays valid), and how wide each judged mean's PPI interval gets."""
    from dataclasses import asdict

    from evalharness.ratings.ppi import plan as make_plan
    from evalharness.ratings.ppi import plan_lines
    from evalharness.store import open_store

    plans = make_plan(open_store(db), run_id, budget, target_half_width=target)
    for line in plan_lines(plans, budget, target):
        typer.echo(line)
    if json_out is not None:
        json_out.write_text(json.dumps([asdict(p) for p in plans], indent=2) + "\n", "utf-8")
        typer.echo(f"wrote {json_out}")


def calibrate(
    dataset: Annotated[
        str,
        typer.Option(
            help="summeval | unieval-meta | realsumm | wmt-mqm-ted-ende | llmbar-pairwise | "
            "pandalm-testset, or any dataset with ratings in the store"
        ),
    ],
    rubric: Annotated[
        str | None,
        typer.Option(help="only the human and judge ratings under this rubric (judge tables)"),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the tables as JSON here")
    ] = None,
    n_boot: Annotated[int, typer.Option(min=1, help="bootstrap resamples per CI")] = 1000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="only the first N groups: documents, segments (--limit 100 of SummEval is all "
            "1,600 summaries; --items counts summaries)",
        ),
    ] = None,
    judge_model: Annotated[
        str | None,
        typer.Option(help="judge the set's items with this model first (needs --rubric)"),
    ] = None,
    judge_model_args: Annotated[
        str | None, typer.Option(help="the judge's backend options, k=v,...")
    ] = None,
    items: Annotated[
        int | None,
        typer.Option(
            min=2, help="with --judge-model: only the first N items (summaries), document order"
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="reports folder")] = Path("reports"),
    data_dir: DataDirOption = None,
    db: DbOption = None,
) -> None:
    """Meta-evaluation tables with 95% CIs: metrics and judges against human ratings.

    Imports the dataset into the store first if it is not there. With --judge-model, that
    model judges the set's items under --rubric (resuming where it stopped), and its agreement
    with the people is printed and stored, so its judged numbers carry it. Prints the tables
    and writes them as JSON to reports/meta/<dataset>.json (and --json OUT).
    """
    from evalharness.meta.judge_tables import format_tables
    from evalharness.meta.tables import calibrate as compute
    from evalharness.ratings.agreement import GATED_STATISTIC, Agreement
    from evalharness.ratings.ppi import RunPPI
    from evalharness.store import open_store

    if items is not None and judge_model is None:
        raise ConfigError("calibrate: --items counts the items a --judge-model judges; "
                          "--limit N takes the first N documents")  # fmt: skip
    model = None
    if judge_model is not None:
        from evalharness.modelref import ModelRef

        model = ModelRef.parse(judge_model, judge_model_args, "--judge-model-args").load()
    result = compute(
        open_store(db),
        dataset,
        rubric=rubric,
        n_boot=n_boot,
        seed=seed,
        limit=limit,
        data_dir=data_dir,
        judge_model=model,
        n_items=items,
    )
    if result["imported"]:
        imp = result["imported"]
        typer.echo(f"imported {dataset}: {imp['items']} items, {imp['ratings']} ratings")
    if result["judged"]:
        j = result["judged"]
        typer.echo(f"judge {j['judge']}: judged {j['judged']} items ({j['unparsed']} unparsed), "
                   f"{j['skipped']} already judged")  # fmt: skip
    if not result["tables"]:
        typer.echo(f"no tables for {dataset}" + (f" rubric {rubric}" if rubric else ""))
    for line in format_tables(result):
        typer.echo(line)
    for a in result["stored_agreement"]:
        if a["statistic"] == GATED_STATISTIC:
            where = f"{a['rubric']}.{a['criterion']}"
            typer.echo(f"stored: judge {a['judge']} on {where}: {Agreement(**a).describe()}")
    for p in result["ppi"]:
        run_ppi = RunPPI(**{k: v for k, v in p.items() if k != "run_id"})
        typer.echo(f"PPI run {p['run_id']} {p['task']} {p['metric']}: {run_ppi.describe()}")
    text = json.dumps(result, indent=2) + "\n"
    name = dataset + (f"-{rubric}" if rubric else "") + (f"-limit{limit}" if limit else "")
    name += f"-items{items}" if items else ""
    targets = [out / "meta" / f"{name.replace('/', '_')}.json"]
    if json_out is not None:
        targets.append(json_out)
    for path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``ratings import|export`` and ``calibrate`` to the ``evalharness`` app."""
    app.add_typer(ratings_app, name="ratings")
    app.command("calibrate")(calibrate)
