"""xgrammar vs llguidance as the transformers backend's constrained decoder, on every rubric.

For each bundled rubric, judge ``--items`` synthetic subjects with the embedded model, greedy,
once unconstrained and once under the verdict schema with each engine; report whether each
answer parses (judges/parse.py), decode tokens/s, and the masking time per token. Run by
hand; each engine runs in its own process (xgrammar and llguidance loaded into one process
ended it silently on this machine)::

    HF_HUB_OFFLINE=1 python benchmarks/grammar_engines.py --items 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from evalharness.judges.parse import ParseError, parse_judgment
from evalharness.judges.render import Subject, render_prompt
from evalharness.judges.rubric import load_rubric, rubric_files
from evalharness.judges.schema import schema_text, verdict_schema
from evalharness.models import load_model
from evalharness.requests import GenerateRequest, Sampling

SUBJECTS = [
    Subject(
        "The city council voted on Monday to turn the old rail yard into a public park. The "
        "project costs 4 million dollars and should open in two years.",
        "The council approved a park on the old rail yard; it costs $4M and opens in 2 years.",
        "A park will replace the rail yard.",
        "The council said no to the park.",
    ),
    Subject(
        "How many legs does a spider have?",
        "A spider has eight legs.",
        "Eight.",
        "Spiders have six legs, like insects.",
    ),
]


def run(engine: str | None, items: int) -> dict[str, dict[str, float]]:
    model = load_model("embedded", grammar=engine or "xgrammar", batch_size=8)
    out = {}
    for name in sorted(rubric_files()):
        rubric = load_rubric(name)
        subjects = SUBJECTS[:items]
        if rubric.mode == "pointwise":
            subjects = [Subject(s.source, s.output, s.reference) for s in subjects]
        schema = schema_text(verdict_schema(rubric)) if engine else None
        sampling = Sampling(max_tokens=rubric.max_tokens, json_schema=schema)
        requests = [GenerateRequest(render_prompt(rubric, s), sampling) for s in subjects]
        before = dict(model.grammar().stats) if engine else {"mask_s": 0.0, "rows": 0}
        started = time.perf_counter()
        gens = model.generate(requests)
        elapsed = time.perf_counter() - started
        valid = 0
        for g in gens:
            try:
                parse_judgment(g.texts[0], rubric)
                valid += 1
            except ParseError:
                pass
        tokens = sum(g.completion_tokens for g in gens)
        stats = model.grammar().stats if engine else {"mask_s": 0.0, "rows": 0}
        mask_s = stats["mask_s"] - before["mask_s"]
        rows = stats["rows"] - before["rows"]
        out[name] = {
            "valid": valid / len(gens),
            "tokens": tokens,
            "tokens_per_s": tokens / elapsed,
            "mask_ms_per_token": 1000 * mask_s / max(1, rows),
        }
        print(engine, name, json.dumps(out[name]), flush=True)
    return out


def synthetic_verdict(rubric: Any) -> dict[str, Any]:
    """A valid verdict of every criterion kind: the engines must accept all of it."""
    out: dict[str, Any] = {}
    for c in rubric.criteria:
        if c.kind == "score":
            out[c.name] = {"rationale": "Clear, and mostly correct.", "score": c.scale.max}
        elif c.kind == "label":
            out[c.name] = {"rationale": "B answers it.", "label": c.scale.labels[-1]}
        else:
            error = {"span": "the cat", "category": c.errors.categories[-1], "severity": "major"}
            out[c.name] = {"rationale": "One error.", "errors": [error, error]}
    return out


def mask_check(engine: str) -> dict[str, dict[str, Any]]:
    """No model: feed each rubric's synthetic verdict token by token through the mask; every
    token must be allowed, and a score one below the scale's min must be masked."""
    import torch
    from transformers import AutoTokenizer

    from evalharness.models.embedded import embedded_model_dir
    from evalharness.models.hf_grammar import SchemaGrammar

    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    grammar = SchemaGrammar(tok, vocab_size=len(tok), stop_ids=[tok.eos_token_id], engine=engine)
    out = {}
    for name in sorted(rubric_files()):
        rubric = load_rubric(name)
        verdict = synthetic_verdict(rubric)
        text = json.dumps(verdict, separators=(",", ":"))
        parse_judgment(text, rubric)
        ids = tok(text, add_special_tokens=False).input_ids + [tok.eos_token_id]
        schema = schema_text(verdict_schema(rubric))
        started = time.perf_counter()
        processor = grammar.processor(schema, rows=1, prompt_len=1)
        compile_s = time.perf_counter() - started
        accepted, started = True, time.perf_counter()
        for i, token in enumerate(ids):
            scores = processor(torch.tensor([[0, *ids[:i]]]), torch.zeros(1, len(tok)))
            accepted &= bool(scores[0, token] > float("-inf"))
        mask_ms = 1000 * (time.perf_counter() - started) / len(ids)
        blocked = None
        first = next((c for c in rubric.criteria if c.kind == "score"), None)
        if first is not None:
            prefix = text[: text.index('"score":', text.index(f'"{first.name}"')) + 8]
            pre = tok(prefix, add_special_tokens=False).input_ids
            probe = grammar.processor(schema, rows=1, prompt_len=1)
            for i in range(len(pre) + 1):
                scores = probe(torch.tensor([[0, *pre[:i]]]), torch.zeros(1, len(tok)))
            bad = tok(str(first.scale.min - 1), add_special_tokens=False).input_ids[0]
            blocked = bool(scores[0, bad] == float("-inf"))
        out[name] = {
            "accepts_valid": accepted,
            "blocks_out_of_scale": blocked,
            "compile_ms": round(1000 * compile_s, 1),
            "mask_ms_per_token": round(mask_ms, 2),
        }
        print(engine, name, json.dumps(out[name]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2)
    parser.add_argument("--engines", default="none,xgrammar,llguidance")
    parser.add_argument("--mask-only", action="store_true", help="no model: masks alone")
    args = parser.parse_args()
    engines = args.engines.split(",")
    if len(engines) == 1:
        if args.mask_only:
            mask_check(engines[0])
        else:
            print(json.dumps(run(None if engines[0] == "none" else engines[0], args.items)))
        return
    for engine in engines:
        command = [sys.executable, __file__, "--items", str(args.items), "--engines", engine]
        subprocess.run(command + (["--mask-only"] if args.mask_only else []), check=True)


if __name__ == "__main__":
    main()
