"""Our transformers backend against lm-evaluation-harness on the same model, data and settings.

Workloads (same local model folder, batch size, max_length, prompts and data on both sides):
  perplexity       rolling log-likelihood of WikiText-2 test articles (first --docs, or all 62
                   with --full), lm-eval's ``loglikelihood_rolling`` over our detokenized text;
  multiple_choice  0-shot ARC (--arc easy|challenge, first --mc-items questions):
                   "Question: {q}\\nAnswer:" scored against " {choice}";
  generate         greedy XQuAD answers (first --gen-items), completion prompt, at most 32 new
                   tokens, stop at the first newline;
  forward          (perplexity only) the bare ``model(input_ids)`` over the same rolling
                   windows in batches of --batch-size, no scoring: the physical limit.

Harnesses alternate run by run (ours, lm-eval, forward, ours, lm-eval, forward, ...); every run
is a fresh subprocess whose peak RSS is read from its own rusage (``os.wait4``: the
``ru_maxrss`` that ``getrusage(RUSAGE_CHILDREN)`` would give for that one child). Timings are
the evaluation call only (task loading, scoring and metrics included, model loading reported
apart), median over --repeats. Agreement is checked on the last run of each harness:
token perplexity and per-choice log-likelihoods to 1e-4, identical acc/acc_norm and texts.

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 .venv/bin/python benchmarks/bench_vs_lmeval.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_report import agreement, markdown, summarize  # noqa: E402
from bench_workloads import wikitext_articles  # noqa: E402

from evalharness.resources import read_data_text  # noqa: E402

WORKLOADS = ("perplexity", "multiple_choice", "generate")
ARC_DIR = REPO / "data" / "arc"  # bundled, gzip-compressed
TOL = 1e-4


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    p.add_argument(
        "--harnesses",
        nargs="+",
        choices=("ours", "lm-eval", "forward"),
        default=["ours", "lm-eval", "forward"],
    )
    p.add_argument("--model-dir", help="local model folder (default: the embedded model)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=2048)
    p.add_argument("--docs", type=int, default=5, help="WikiText-2 articles (default 5)")
    p.add_argument("--full", action="store_true", help="all 62 WikiText-2 articles")
    p.add_argument("--arc", choices=("easy", "challenge"), default="easy")
    p.add_argument("--mc-items", type=int, default=200)
    p.add_argument("--gen-items", type=int, default=32)
    p.add_argument("--gen-task", choices=("gsm8k", "xquad"), default="gsm8k")
    p.add_argument("--threads", type=int, help="torch threads in every run (default: torch's)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--ours-args", default="{}", help="JSON of extra HFModel arguments")
    p.add_argument(
        "--lmeval-sum64",
        action="store_true",
        help="agreement check: lm-eval's float32 token log-probs summed in float64 (not timed)",
    )
    p.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/…)")
    return p.parse_args()


def child_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=str(REPO),
    )
    return env


def run_child(cfg: dict[str, Any]) -> dict[str, Any]:
    """One run in a fresh interpreter; its own peak RSS comes from wait4's rusage."""
    with tempfile.TemporaryDirectory() as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "log.txt"
        load = os.getloadavg()[0]
        with log.open("wb") as handle:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(REPO / "benchmarks" / "bench_workloads.py"),
                    json.dumps(cfg),
                    str(out),
                ],
                env=child_env(cfg.get("threads")),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
            raise SystemExit(
                f"{cfg['harness']} {cfg['workload']} failed (exit {proc.returncode}, peak RSS "
                f"{usage.ru_maxrss / 1024:.0f} MB):\n{tail}"
            )
        result = json.loads(out.read_text(encoding="utf-8"))
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    result["load_avg_1m"] = load
    return result


def work_counts(cfg: dict[str, Any], workload: str, texts: list[str] | None) -> list[int]:
    """Tokens per item: scored tokens (perplexity), request tokens (choices), new tokens."""
    from transformers import AutoTokenizer

    from evalharness.models.hf_batching import encode_pair

    tok = AutoTokenizer.from_pretrained(cfg["model_dir"])

    def encode(text: str) -> list[int]:
        return tok(text, add_special_tokens=False).input_ids

    if workload == "perplexity":
        return [len(encode(text)) for text in wikitext_articles(cfg["limit"])]
    if workload == "multiple_choice":
        lines = Path(cfg["arc_file"]).read_text(encoding="utf-8").splitlines()
        counts = []
        for line in lines[: cfg["limit"]]:
            q = json.loads(line)["question"]
            context = f"Question: {q['stem']}\nAnswer:"
            pairs = [encode_pair(encode, context, " " + c["text"], 0) for c in q["choices"]]
            counts.append(sum(len(ctx) + len(cont) for ctx, cont in pairs))
        return counts
    return [len(encode(text)) for text in texts or []]


def main() -> None:
    args = parse_args()
    if args.model_dir is None:
        from evalharness.models.embedded import embedded_model_dir

        args.model_dir = str(embedded_model_dir())
    arc_file = Path(tempfile.mkdtemp()) / f"ARC-{args.arc.capitalize()}-Test.jsonl"
    # Both harnesses read the same plain JSONL file.
    arc_file.write_text(read_data_text(ARC_DIR / arc_file.name), encoding="utf-8")
    limits = {
        "perplexity": 62 if args.full else args.docs,
        "multiple_choice": args.mc_items,
        "generate": args.gen_items,
    }
    report: dict[str, Any] = {
        "started": datetime.now().isoformat(timespec="seconds"),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "load_avg_start": os.getloadavg(),
        "workloads": {},
    }
    for workload in args.workloads:
        harnesses = [h for h in args.harnesses if h != "forward" or workload == "perplexity"]
        base = {
            "workload": workload,
            "model_dir": args.model_dir,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "limit": limits[workload],
            "arc_file": str(arc_file),
            "ours_args": json.loads(args.ours_args),
            "gen_task": args.gen_task,
            "threads": args.threads,
            "lmeval_sum64": args.lmeval_sum64,
        }
        runs: dict[str, list[dict[str, Any]]] = {h: [] for h in harnesses}
        for rep in range(args.repeats):
            for harness in harnesses:
                started = time.perf_counter()
                result = run_child({**base, "harness": harness})
                runs[harness].append(result)
                print(
                    f"[{workload} {rep + 1}/{args.repeats}] {harness}: eval "
                    f"{result['eval_s']:.1f} s, load {result['load_s']:.1f} s, peak RSS "
                    f"{result['peak_rss_mb']:.0f} MB, load avg {result['load_avg_1m']:.2f} "
                    f"(wall {time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
        texts = runs.get("ours", runs.get("lm-eval", [{}]))[-1].get("texts")
        counts = work_counts(base, workload, texts)
        report["workloads"][workload] = {
            "limit": limits[workload],
            "tokens": sum(counts),
            "summary": summarize(workload, runs, sum(counts)),
            "agreement": agreement(workload, runs, TOL, sum(counts)),
            "runs": {
                h: [{k: v for k, v in r.items() if k not in ("logprobs", "texts")} for r in rs]
                for h, rs in runs.items()
            },
        }
    report["load_avg_end"] = os.getloadavg()
    table = markdown(report)
    print(table)
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}"
    out = args.out or REPO / "benchmarks" / "results" / f"bench_vs_lmeval_{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    print(f"wrote {out} and {out.with_suffix('.md').name}")


if __name__ == "__main__":
    main()
