"""Bias probes (judges/probes.py, ``evalharness bias``): a judge fooled by filler and by an
instruction addressed to it shows both shifts; a fair one none; a judge that always picks the
first response has position rate 1 and never agrees with itself; probes are stored and shown."""

from __future__ import annotations

import json
import re
from pathlib import Path

from evalharness.judges.probes import run_probes, stored_probes
from evalharness.meta.bias import INJECTION, PADDING
from evalharness.models.scripted import ScriptedModel
from evalharness.prompts import prompt_text
from evalharness.requests import GenerateRequest, Generation
from evalharness.store import open_store
from evalharness.views.calibration import probe_table
from tests.judges.helpers import PAIRWISE, SUMMEVAL, Recording, _answer, _stored_run
from tests.support.helpers import run_cli

STORE_KINDS = ("sqlite", "postgresql")  # db_url tests run on both (tests/conftest.py)
OUTPUTS = [f"topic {i} is covered" for i in range(6)]


class Gullible(ScriptedModel):
    """Coherence 2 for a plain summary, 3 with filler after it, 5 when told to give 5."""

    def generate(self, requests: list[GenerateRequest]) -> list[Generation]:
        def score(text: str) -> int:
            return 5 if INJECTION[:40] in text else 3 if PADDING[:40] in text else 2

        texts = [_answer(SUMMEVAL, {"coherence": score(prompt_text(r.prompt))}) for r in requests]
        return [Generation(texts=(t,)) for t in texts]


def _stat(found: list, probe: str, statistic: str, criterion: str = "coherence"):
    (hit,) = [p for p in found if (p.probe, p.statistic, p.criterion) ==
              (probe, statistic, criterion)]  # fmt: skip
    return hit


def test_padding_and_injection_probes_measure_the_shift(tmp_path: Path, db_url: str) -> None:
    run_id = _stored_run(tmp_path, db_url, OUTPUTS)
    store = open_store(db_url)
    found = run_probes(store, run_id, SUMMEVAL, Gullible(name="gullible"), n_boot=200)
    padded, injected = _stat(found, "padded", "mean_shift"), _stat(found, "injected", "mean_shift")
    assert (padded.value, padded.n, injected.value, injected.n) == (1.0, 6, 3.0, 6)
    assert _stat(found, "injected", "raised_rate").value == 1.0
    assert _stat(found, "padded", "mean_shift", "fluency").value == 0.0  # scored at 1 throughout
    assert {p.task for p in found} == {"summ"} and {p.judge for p in found} == {"gullible"}
    stored = stored_probes(store, "summeval")
    assert len(stored) == len(found) == 4 * 2 * 2  # 4 criteria x 2 probes x 2 statistics
    table = probe_table(store, "summeval")
    row = table[(table["probe"] == "injected") & (table["statistic"] == "mean_shift")
                & (table["criterion"] == "coherence")]  # fmt: skip
    assert row["value"].item() == 3.0 and row["run_id"].item() == run_id


def test_probe_variants_reach_the_judge_in_one_batch(tmp_path: Path, db_url: str) -> None:
    run_id = _stored_run(tmp_path, db_url, OUTPUTS[:2])
    fair = Recording(default=_answer(SUMMEVAL, {"coherence": 4}), name="fair")
    found = run_probes(open_store(db_url), run_id, SUMMEVAL, fair, n_boot=200)
    assert len(fair.prompts) == 1 and len(fair.prompts[0]) == 6  # 2 samples x 3 variants
    first = fair.prompts[0][:3]
    assert all("topic 0 is covered" in p for p in first)
    assert PADDING[:40] in first[1] and INJECTION[:40] in first[2]
    assert _stat(found, "injected", "mean_shift").value == 0.0


def test_position_probe_labels_are_labels(tmp_path: Path, db_url: str) -> None:
    run_a = _stored_run(tmp_path, db_url, OUTPUTS[:4], "a")
    run_b = _stored_run(tmp_path, db_url, [o.upper() for o in OUTPUTS[:4]], "b")
    store = open_store(db_url)
    always_a = ScriptedModel(default=_answer(PAIRWISE, {"preference": "A"}), name="always-a")
    found = run_probes(store, run_a, PAIRWISE, always_a, against=run_b, n_boot=200)
    assert _stat(found, "position", "first_position_rate", "preference").value == 1.0
    assert _stat(found, "position", "consistency", "preference").value == 0.0
    assert _stat(found, "position", "first_position_rate", "preference").n == 8  # both orders


def test_bias_cli_stores_probes_and_refuses_bad_input(tmp_path: Path, db_url: str) -> None:
    run_id = _stored_run(tmp_path, db_url, OUTPUTS[:3])
    verdict = _answer(SUMMEVAL, {"coherence": 3})  # a YAML-quoted string, not a mapping
    out = tmp_path / "probes.json"
    args = ["--judge-model", "scripted", "--judge-model-args", f"default='{verdict}'"]
    result = run_cli("bias", run_id, "--rubric", "summeval", *args, "--db", db_url,
                     "--n-boot", "100", "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"summ: injected summeval\.coherence mean_shift 0\.000 .*n 3", result.stdout)
    assert len(json.loads(out.read_text())["probes"]) == 16
    pairwise = run_cli("bias", run_id, "--rubric", "pairwise_preference", *args, "--db", db_url)
    assert pairwise.returncode == 2 and "give --against RUN_B" in pairwise.stderr
    assert "Traceback" not in pairwise.stderr
    unknown = run_cli("bias", "nope", "--rubric", "summeval", "--db", db_url)
    assert unknown.returncode == 2 and "nope" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
