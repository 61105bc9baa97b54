"""One timed run of one workload on one harness; ``bench_vs_lmeval.py`` runs each in a subprocess.

Each runner loads the model (timed apart), runs the workload end to end through the harness's
public evaluation entry point (task config, scoring, metrics), and returns what the parent
compares: per-document rolling log-likelihoods, per-choice log-likelihoods with acc/acc_norm,
or generated texts. ``forward`` is the physical limit for perplexity: the bare ``model(ids)``
over the same rolling windows, batch by batch, with no scoring at all.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BENCH_TASKS = REPO / "benchmarks" / "tasks"
WIKITEXT = REPO / "tasks" / "data" / "wikitext2" / "test.jsonl"
XQUAD = REPO / "tasks" / "data" / "xquad" / "en.jsonl"

GSM8K = REPO / "tasks" / "data" / "gsm8k"

# The same prompts on both sides; ours are YAML files in benchmarks/tasks/, lm-eval's are
# written to a temporary include path with ``dataset_path: json`` over the same local files.
GEN_MAX_TOKENS = 32
GEN_TASKS = {  # ours: benchmarks/tasks/<name>.yaml
    "gsm8k": "gsm8k_cot_bench",  # 8-shot chain of thought, stop at "Q:" or a blank line
    "xquad": "xquad_en_completion_bench",  # 0-shot passage + question, stop at a newline
}


def lmeval_task_yaml(cfg: dict[str, Any]) -> tuple[str, str]:
    """(task name, YAML text) of lm-eval's equivalent of the workload ``cfg['workload']``."""
    workload = cfg["workload"]
    if workload == "perplexity":
        body = {
            "task": "bench_wikitext2",
            "dataset_kwargs": {"data_files": {"test": str(WIKITEXT)}},
            "output_type": "loglikelihood_rolling",
            "doc_to_text": "",
            "doc_to_target": "{{text}}",
            "metric_list": [{"metric": m} for m in ("word_perplexity", "byte_perplexity")],
        }
    elif workload == "multiple_choice":
        labels = "(question.choices | map(attribute='label') | list)"
        body = {
            "task": "bench_arc",
            "dataset_kwargs": {"data_files": {"test": cfg["arc_file"]}},
            "output_type": "multiple_choice",
            "doc_to_text": "Question: {{question.stem}}\nAnswer:",
            "doc_to_choice": "{{question.choices | map(attribute='text') | list}}",
            "doc_to_target": "{{" + labels + ".index(answerKey)}}",
            "target_delimiter": " ",
            "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
        }
    elif workload == "generate" and cfg["gen_task"] == "xquad":
        body = {
            "task": "bench_xquad",
            "dataset_kwargs": {"data_files": {"test": str(XQUAD)}},
            "output_type": "generate_until",
            "doc_to_text": "Passage: {{context}}\n\nQuestion: {{question}}\nAnswer:",
            "doc_to_target": "{{answers[0]}}",
            "generation_kwargs": _gen_kwargs(["\n"]),
            "metric_list": [{"metric": "exact_match"}],
        }
    elif workload == "generate":
        lines = (GSM8K / "fewshot_cot.jsonl").read_text(encoding="utf-8").splitlines()
        shots = [json.loads(line) for line in lines[:8]]
        body = {
            "task": "bench_gsm8k",
            "dataset_kwargs": {"data_files": {"test": str(GSM8K / "test.jsonl")}},
            "output_type": "generate_until",
            "doc_to_text": "Q: {{question}}\nA:",
            "doc_to_target": "{{final if final is defined else target}}",
            "target_delimiter": " ",
            "fewshot_delimiter": "\n\n",
            "num_fewshot": 8,
            "fewshot_config": {
                "sampler": "first_n",
                "samples": [{"question": s["question"], "target": s["cot"]} for s in shots],
            },
            "generation_kwargs": _gen_kwargs(["Q:", "\n\n"]),
            "metric_list": [{"metric": "exact_match"}],
        }
    else:
        raise ValueError(workload)
    body = {"dataset_path": "json", "test_split": "test", **body}
    return body["task"], json.dumps(body, indent=1)  # JSON is YAML


def _gen_kwargs(until: list[str]) -> dict[str, Any]:
    return {"until": until, "do_sample": False, "temperature": 0.0, "max_gen_toks": GEN_MAX_TOKENS}


def ours_task_file(cfg: dict[str, Any]) -> tuple[str, Path]:
    workload = cfg["workload"]
    if workload == "perplexity":
        return "wikitext2", REPO / "tasks" / "wikitext2.yaml"
    if workload == "multiple_choice":
        arc_file = Path(cfg["arc_file"])
        name = "arc_challenge_bench" if "Challenge" in arc_file.name else "arc_easy_bench"
        # The task reads its data relative to itself: a copy beside the unpacked ARC file.
        path = arc_file.with_name(f"{name}.yaml")
        shutil.copyfile(BENCH_TASKS / path.name, path)
        return name, path
    name = GEN_TASKS[cfg["gen_task"]]
    return name, BENCH_TASKS / f"{name}.yaml"


def run_ours(cfg: dict[str, Any]) -> dict[str, Any]:
    from evalharness.api import evaluate
    from evalharness.models.hf import HFModel
    from evalharness.store import open_store

    started = time.perf_counter()
    model = HFModel(
        cfg["model_dir"],
        device="cpu",
        dtype="float32",
        batch_size=cfg["batch_size"],
        max_length=cfg["max_length"],
        **cfg.get("ours_args", {}),
    )
    load_s = time.perf_counter() - started
    task, path = ours_task_file(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        started, cpu = time.perf_counter(), time.process_time()
        out = evaluate(model, [str(path)], limit=cfg["limit"], db=db, cache=False, progress=False)
        eval_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        samples = open_store(db).samples(out["run_id"], task)
    result: dict[str, Any] = {
        "load_s": load_s,
        "eval_s": eval_s,
        "cpu_s": cpu_s,
        "n_items": len(samples),
    }
    errors = [s.error for s in samples if s.error]
    if errors:
        raise RuntimeError(f"{len(errors)} failed samples, first: {errors[0]}")
    metrics = {k: v["value"] for k, v in out["results"][task].items()}
    if cfg["workload"] == "perplexity":
        result["logprobs"] = [s.result["logprob"] for s in samples]
        result["n_tokens"] = [s.result["n_tokens"] for s in samples]
    elif cfg["workload"] == "multiple_choice":
        result["logprobs"] = [s.result["logprobs"] for s in samples]
        result["acc"], result["acc_norm"] = metrics["acc"], metrics["acc_norm"]
    else:
        result["texts"] = [s.output for s in samples]
        result["prompts"] = [s.prompt for s in samples]
    return result


def run_lmeval(cfg: dict[str, Any]) -> dict[str, Any]:
    import datasets
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    datasets.disable_progress_bars()
    if cfg.get("lmeval_sum64"):
        _sum_in_float64()
    started = time.perf_counter()
    lm = HFLM(
        pretrained=cfg["model_dir"],
        device="cpu",
        dtype="float32",
        batch_size=cfg["batch_size"],
        max_length=cfg["max_length"],
    )
    load_s = time.perf_counter() - started
    name, text = lmeval_task_yaml(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / f"{name}.yaml").write_text(text, encoding="utf-8")
        started, cpu = time.perf_counter(), time.process_time()
        manager = TaskManager(include_path=tmp, include_defaults=False)
        out = simple_evaluate(
            model=lm,
            tasks=[name],
            task_manager=manager,
            limit=cfg["limit"],
            log_samples=True,
            bootstrap_iters=0,
        )
        eval_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    samples = sorted(out["samples"][name], key=lambda s: s["doc_id"])
    metrics = out["results"][name]
    result: dict[str, Any] = {
        "load_s": load_s,
        "eval_s": eval_s,
        "cpu_s": cpu_s,
        "n_items": len(samples),
    }
    if cfg["workload"] == "perplexity":
        result["logprobs"] = [float(s["resps"][0][0]) for s in samples]
    elif cfg["workload"] == "multiple_choice":
        result["logprobs"] = [[float(r[0][0]) for r in s["resps"]] for s in samples]
        result["acc"], result["acc_norm"] = metrics["acc,none"], metrics["acc_norm,none"]
    else:
        result["texts"] = [s["resps"][0][0] for s in samples]
        result["prompts"] = [_first_string(s["arguments"]) for s in samples]
    return result


def _sum_in_float64() -> None:
    """Agreement runs only: lm-eval's float32 per-token log-probabilities, summed in float64.

    lm-eval adds a window's log-probabilities in float32 (``float(logits.sum())``), whose
    rounding step at a window total of -5,000 is 4.9e-4. Casting its ``log_softmax`` output to
    float64 keeps every per-token value and makes only that sum exact.
    """
    import torch
    from lm_eval.models import huggingface

    class Functional:
        def __getattr__(self, name: str) -> Any:
            return getattr(torch.nn.functional, name)

        @staticmethod
        def log_softmax(*args: Any, **kwargs: Any) -> Any:
            return torch.nn.functional.log_softmax(*args, **kwargs).double()

    huggingface.F = Functional()


def _first_string(value: Any) -> str | None:
    """The context string inside lm-eval's logged request arguments (a nested dict/list)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    for item in value if isinstance(value, list | tuple) else []:
        found = _first_string(item)
        if found is not None:
            return found
    return None


def wikitext_articles(limit: int | None = None) -> list[str]:
    """The first ``limit`` WikiText-2 test articles of the bundled task (all 62 by default)."""
    lines = WIKITEXT.read_text(encoding="utf-8").splitlines()[:limit]
    return [json.loads(line)["text"] for line in lines]


def rolling_forward_windows(
    tokenizer: Any, texts: list[str], max_length: int
) -> tuple[list[list[int]], int]:
    """(lm-eval's rolling windows of every text, longest first; the tokens they score)."""
    from evalharness.models.hf_batching import rolling_windows

    windows, scored = [], 0
    for text in texts:
        tokens = tokenizer(text, add_special_tokens=False).input_ids
        seq = [tokenizer.bos_token_id, *tokens]
        windows += [seq[w.input_start : w.end] for w in rolling_windows(len(tokens), max_length)]
        scored += len(tokens)
    windows.sort(key=len, reverse=True)
    return windows, scored


def run_forward(cfg: dict[str, Any]) -> dict[str, Any]:
    """``model(input_ids)`` over the perplexity workload's rolling windows, batch_size at a time.

    Windows (lm-eval's disjoint windows, every token predicted once) are sorted longest first
    so that batches carry as little padding as possible; nothing is scored.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalharness.models.hf_batching import chunks, pad

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(cfg["model_dir"])
    model = AutoModelForCausalLM.from_pretrained(
        cfg["model_dir"], dtype=torch.float32, attn_implementation="sdpa"
    ).eval()
    load_s = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    texts = wikitext_articles(cfg["limit"])
    windows, _ = rolling_forward_windows(tokenizer, texts, cfg["max_length"])
    with torch.inference_mode():
        for batch in chunks(windows, cfg["batch_size"]):
            ids, mask = pad(batch, tokenizer.eos_token_id, "right", "cpu")
            model(input_ids=ids, attention_mask=mask)
    eval_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    return {
        "load_s": load_s,
        "eval_s": eval_s,
        "cpu_s": cpu_s,
        "n_items": len(texts),
    }


RUNNERS = {"ours": run_ours, "lm-eval": run_lmeval, "forward": run_forward}


def main() -> None:
    cfg = json.loads(sys.argv[1])
    if cfg.get("threads"):
        import torch

        torch.set_num_threads(cfg["threads"])
    result = RUNNERS[cfg["harness"]](cfg)
    Path(sys.argv[2]).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
