"""Parity of the bundled standard tasks with lm-evaluation-harness 0.4.13: same model, same items.

Both harnesses score the same items with the same local model folder (the embedded model by
default; lm-eval's ``hf`` model with ``pretrained=<folder>``), float32, same batch size:
  arc_easy, arc_challenge, hellaswag  the first --items (200) of each, 0-shot, acc and acc_norm;
  mmlu                                --subjects (5) subjects in full, 0-shot and 5-shot, acc.
lm-eval runs offline on the bundled data: each task is lm-eval's OWN task YAML (read from the
installed package: arc_easy.yaml, mmlu's _default_template_yaml and subject YAMLs) with only its
dataset replaced by local JSON files (``dataset_path: json``, ``data_files``) in the hub layout
(ARC: ``question``/``choices.{text,label}``; MMLU: ``cais/mmlu``'s). HellaSwag's own YAML calls
``!function utils.process_docs``; the bundled items are already processed by that function's
``preprocess``, so its YAML here keeps every field but ``process_docs`` and reads the processed
``query``/``endings``/``label``.

Checked per item: every choice's log-likelihood within --tol (1e-4) and the same acc/acc_norm.
Timing: items/s of the MMLU 5-shot evaluation call on each side (model loaded beforehand).

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 .venv/bin/python benchmarks/parity_lm_eval.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
# ruff: noqa: E501 (Markdown table rows)
sys.path.insert(0, str(REPO))

from evalharness.resources import read_data_text  # noqa: E402

DATA = REPO / "data"
SUBJECTS = ("abstract_algebra", "anatomy", "astronomy", "college_chemistry", "global_facts")
ARC = {"arc_easy": "ARC-Easy-Test.jsonl", "arc_challenge": "ARC-Challenge-Test.jsonl"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", help="local model folder (default: the embedded model)")
    p.add_argument("--items", type=int, default=200, help="first N of ARC and HellaSwag")
    p.add_argument("--subjects", nargs="+", default=list(SUBJECTS))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--only", nargs="+", choices=("arc", "hellaswag", "mmlu0", "mmlu5"))
    p.add_argument("--out", type=Path, help="write the JSON summary here")
    return p.parse_args()


def _rows(rel: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_data_text(DATA / rel).split("\n") if line.strip()]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _lm_eval_yaml(rel: str) -> dict[str, Any]:
    """One of lm-eval's own task files, as installed."""
    text = (files("lm_eval") / "tasks" / rel).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def lm_eval_tasks(folder: Path, items: int, subjects: list[str]) -> dict[str, str]:
    """lm-eval task YAMLs over local copies of the bundled items; ours -> lm-eval task name."""
    names = {}
    for task, file in ARC.items():
        rows = [
            {
                "id": r["id"],
                "question": r["question"]["stem"],
                "choices": {
                    "text": [c["text"] for c in r["question"]["choices"]],
                    "label": [c["label"] for c in r["question"]["choices"]],
                },
                "answerKey": r["answerKey"],
            }
            for r in _rows(f"arc/{file}")[:items]
        ]
        config = {**_lm_eval_yaml("arc/arc_easy.yaml"), "task": f"parity_{task}", "tag": []}
        config.update(_local(folder, task, {"test": rows}))
        config.pop("training_split"), config.pop("validation_split")
        names[task] = _dump(folder, config)
    hs = {
        "task": "parity_hellaswag",
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": "{{query}}",
        "doc_to_target": "{{label}}",
        "doc_to_choice": "endings",
        "metric_list": [{"metric": m, "aggregation": "mean"} for m in ("acc", "acc_norm")],
    }
    hs.update(_local(folder, "hellaswag", {"test": _rows("hellaswag/validation.jsonl")[:items]}))
    names["hellaswag"] = _dump(folder, hs)
    template = _lm_eval_yaml("mmlu/default/_default_template_yaml")
    for s in subjects:
        own = _lm_eval_yaml(f"mmlu/default/mmlu_{s}.yaml")
        config = {**template, "task": f"parity_mmlu_{s}", "description": own["description"]}
        splits = {split: _rows(f"mmlu/{split}/{s}.jsonl") for split in ("test", "dev")}
        config.update(_local(folder, f"mmlu_{s}", splits))
        names[f"mmlu_{s}"] = _dump(folder, config)
    return names


def _local(folder: Path, name: str, splits: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    data_files = {k: _write_jsonl(folder / f"{name}.{k}.jsonl", v) for k, v in splits.items()}
    return {
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": data_files},
    }


def _dump(folder: Path, config: dict[str, Any]) -> str:
    (folder / f"{config['task']}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return config["task"]


def run_ours(model: Any, tasks: list[str], limit: int | None, shots: int | None) -> dict:
    from evalharness.api import evaluate
    from evalharness.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/parity.db"
        start = time.perf_counter()
        out = evaluate(model, tasks, limit=limit, db=db, cache=False, num_fewshot=shots)
        seconds = time.perf_counter() - start
        samples = open_store(db).samples(out["run_id"])
        per_item = {(s.task, s.idx): s.result["logprobs"] for s in samples}
        prompts = {(s.task, s.idx): s.prompt for s in samples}
    return {"results": out["results"], "items": per_item, "prompts": prompts, "seconds": seconds}


def run_lm_eval(lm: Any, manager: Any, names: dict[str, str], tasks: list[str], shots: int) -> dict:
    from lm_eval import simple_evaluate

    start = time.perf_counter()
    out = simple_evaluate(
        model=lm,
        tasks=[names[t] for t in tasks],
        num_fewshot=shots,
        task_manager=manager,
        log_samples=True,
        bootstrap_iters=0,
    )
    seconds = time.perf_counter() - start
    ours_name = {v: k for k, v in names.items()}
    per_item, prompts, results = {}, {}, {}
    for name, samples in out["samples"].items():
        for s in samples:
            per_item[(ours_name[name], s["doc_id"])] = [r[0][0] for r in s["resps"]]
            prompts[(ours_name[name], s["doc_id"])] = s["arguments"][0][0]
    for name, metrics in out["results"].items():
        results[ours_name[name]] = {
            k.split(",")[0]: v for k, v in metrics.items() if k in ("acc,none", "acc_norm,none")
        }
    return {"results": results, "items": per_item, "prompts": prompts, "seconds": seconds}


def compare(ours: dict, theirs: dict, tol: float) -> list[dict[str, Any]]:
    rows = []
    for task, metrics in theirs["results"].items():
        keys = sorted(k for k in ours["items"] if k[0] == task)
        diffs = [
            abs(a - b)
            for k in keys
            for a, b in zip(ours["items"][k], theirs["items"][k], strict=True)
        ]
        row = {"task": task, "n": len(keys), "max_abs_ll_diff": max(diffs)}
        row["same_prompts"] = sum(ours["prompts"][k] == theirs["prompts"][k] for k in keys)
        row["within_tol"] = row["same_prompts"] == len(keys) and row["max_abs_ll_diff"] <= tol
        row["within_tol"] &= len(keys) == len([k for k in theirs["items"] if k[0] == task])
        for metric, value in metrics.items():
            row[f"{metric}_ours"] = ours["results"][task][metric]["value"]
            row[f"{metric}_lm_eval"] = value
            row["within_tol"] &= abs(row[f"{metric}_ours"] - value) < 1e-12
        rows.append(row)
    return rows


def main() -> None:
    args = parse_args()
    import torch
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from evalharness.models import load_model
    from evalharness.models.embedded import embedded_model_dir

    torch.manual_seed(0)
    folder = args.model_dir or str(embedded_model_dir())
    ours_model = load_model(
        f"hf:{folder}", device=args.device, dtype="float32", batch_size=args.batch_size
    )
    lm = HFLM(pretrained=folder, device=args.device, dtype="float32", batch_size=args.batch_size)
    parts = args.only or ["arc", "mmlu5", "hellaswag", "mmlu0"]
    summary: dict[str, Any] = {"model": folder, "device": args.device, "rows": [], "timing": {}}
    with tempfile.TemporaryDirectory() as tmp:
        names = lm_eval_tasks(Path(tmp), args.items, args.subjects)
        manager = TaskManager(include_path=tmp)
        mmlu = [f"mmlu_{s}" for s in args.subjects]
        plan = {
            "arc": (list(ARC), args.items, 0),
            "hellaswag": (["hellaswag"], args.items, 0),
            "mmlu0": (mmlu, None, 0),
            "mmlu5": (mmlu, None, 5),
        }
        for part in parts:
            tasks, limit, shots = plan[part]
            ours = run_ours(ours_model, tasks, limit, shots)
            theirs = run_lm_eval(lm, manager, names, tasks, shots)
            for row in compare(ours, theirs, args.tol):
                summary["rows"].append({**row, "shots": shots})
            n = sum(1 for k in ours["items"])
            summary["timing"][part] = {
                "items": n,
                "ours_items_per_s": n / ours["seconds"],
                "lm_eval_items_per_s": n / theirs["seconds"],
            }
            print(markdown(summary), flush=True)  # after each part: a cut-off run still reports
            if args.out:
                args.out.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if not all(r["within_tol"] for r in summary["rows"]):
        sys.exit(1)


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "| task | shots | n | same prompts | acc ours | acc lm-eval | acc_norm ours | acc_norm lm-eval | max abs Δ loglik | ok |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        norm = [f"{r[k]:.4f}" if k in r else "—" for k in ("acc_norm_ours", "acc_norm_lm_eval")]
        lines.append(
            f"| {r['task']} | {r['shots']} | {r['n']} | {r['same_prompts']} | {r['acc_ours']:.4f} | {r['acc_lm_eval']:.4f} "
            f"| {norm[0]} | {norm[1]} | {r['max_abs_ll_diff']:.2e} | {'yes' if r['within_tol'] else 'NO'} |"
        )
    lines += [
        "",
        "| workload | items | ours items/s | lm-eval items/s | ratio |",
        "|---|---|---|---|---|",
    ]
    for part, t in summary["timing"].items():
        ratio = t["ours_items_per_s"] / t["lm_eval_items_per_s"]
        lines.append(
            f"| {part} | {t['items']} | {t['ours_items_per_s']:.2f} | {t['lm_eval_items_per_s']:.2f} | {ratio:.2f}× |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
