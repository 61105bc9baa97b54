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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2)
    parser.add_argument("--engines", default="none,xgrammar,llguidance")
    args = parser.parse_args()
    engines = args.engines.split(",")
    if len(engines) == 1:
        print(json.dumps(run(None if engines[0] == "none" else engines[0], args.items)))
        return
    for engine in engines:
        command = [sys.executable, __file__, "--items", str(args.items), "--engines", engine]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
