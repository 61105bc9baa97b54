"""Valid-verdict rate and judge throughput, with and without constrained decoding.

The embedded judge (SmolLM2-135M) rates N SummEval summaries (data/summeval, 100 documents x
16 systems; the first system output of N distinct documents) with the ``summeval`` rubric, and
M MT-Bench answers with ``mtbench_single`` (the questions of tasks/data/mtbench that carry a
GPT-4 reference answer, that answer judged as the response, no reference shown). Each set is
judged once constrained (the verdict's JSON Schema, xgrammar) and once by prompting alone,
first ask only (``max_reasks=0``) and with re-asks (``--reasks``). Reported per set and mode:
valid-verdict rate, completion tokens, wall time and judge tokens/s; ``--out`` also keeps each
invalid verdict's parse errors and raw answer. Run by hand::

    HF_HUB_OFFLINE=1 python benchmarks/judge_valid.py --summeval 100 --mtbench 20
    HF_HUB_OFFLINE=1 python benchmarks/judge_valid.py --model openai:smollm2 \\
        --model-args base_url=http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from evalharness.judges.judge import Judge
from evalharness.judges.render import Subject
from evalharness.judges.rubric import load_rubric
from evalharness.modelref import ModelRef
from evalharness.requests import GenerateRequest, Generation
from evalharness.resources import read_data_text

ROOT = Path(__file__).resolve().parents[1]


class Counting:
    """A model wrapper that counts completion tokens and generation time."""

    def __init__(self, model: Any) -> None:
        self.model, self.name, self.capabilities = model, model.name, model.capabilities
        self.tokens, self.seconds = 0, 0.0

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        started = time.perf_counter()
        out = self.model.generate(requests)
        self.seconds += time.perf_counter() - started
        self.tokens += sum(g.completion_tokens for g in out)
        return out


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_data_text(path).splitlines() if line.strip()]


def summeval_subjects(n: int) -> list[Subject]:
    docs = {d["doc_id"]: d for d in _jsonl(ROOT / "data/summeval/summeval_documents.jsonl")}
    seen, out = set(), []
    for row in _jsonl(ROOT / "data/summeval/summeval_judgments.jsonl"):
        if row["doc_id"] not in seen and len(out) < n:
            seen.add(row["doc_id"])
            out.append(Subject(docs[row["doc_id"]]["source"], row["system_output"]))
    return out


def mtbench_subjects(n: int) -> list[Subject]:
    rows = [r for r in _jsonl(ROOT / "tasks/data/mtbench/questions.jsonl") if r.get("reference")]
    return [Subject(r["turns"][0], r["reference"][0]) for r in rows[:n]]


def measure(model: Any, rubric: str, subjects: list[Subject], constrained: bool, reasks: int):
    counting = Counting(model)
    judge = Judge(
        counting,
        load_rubric(rubric),
        max_reasks=reasks,
        constrained=constrained,
        distributions=False,
    )
    grammar = getattr(model, "_grammar", None)  # transformers: masking time of xgrammar
    mask_before = grammar.stats["mask_s"] if grammar else 0.0
    started = time.perf_counter()
    verdicts = judge.judge(subjects, show_reference=False)
    wall = time.perf_counter() - started
    grammar = getattr(model, "_grammar", None)
    mask_s = (grammar.stats["mask_s"] if grammar else 0.0) - mask_before
    valid = sum(v.parsed for v in verdicts)
    invalid = [{"index": i, "errors": list(v.errors), "raw": v.raws[0] if v.raws else None}
               for i, v in enumerate(verdicts) if not v.parsed]  # fmt: skip
    return {
        "invalid": invalid,
        "rubric": rubric,
        "constrained": constrained,
        "max_reasks": reasks,
        "n": len(verdicts),
        "valid": valid,
        "valid_rate": valid / max(1, len(verdicts)),
        "completion_tokens": counting.tokens,
        "generate_s": round(counting.seconds, 1),
        "wall_s": round(wall, 1),
        "tokens_per_s": round(counting.tokens / max(1e-9, counting.seconds), 2),
        "mask_s": round(mask_s, 2),  # share of generate_s spent computing grammar masks
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--model-args", default="")
    parser.add_argument("--summeval", type=int, default=100)
    parser.add_argument("--mtbench", type=int, default=20)
    parser.add_argument("--reasks", type=int, default=0)
    parser.add_argument("--modes", default="constrained,free")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = ModelRef.parse(args.model, args.model_args).load()
    sets = [("summeval", summeval_subjects(args.summeval))]
    sets.append(("mtbench_single", mtbench_subjects(args.mtbench)))
    results = []
    for rubric, subjects in sets:
        if not subjects:
            continue
        for mode in args.modes.split(","):
            row = measure(model, rubric, subjects, mode == "constrained", args.reasks)
            shown = {k: v for k, v in row.items() if k != "invalid"}
            print(json.dumps(shown | {"invalid_at": [x["index"] for x in row["invalid"]]}),
                  flush=True)  # fmt: skip
            results.append(row)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
