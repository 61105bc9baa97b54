"""Every bad input ends in one line naming the place, exit 2, no traceback, an unchanged store.

Each case writes its files into a fresh folder, runs the real CLI (the scripted model where a
model is needed) and compares the row count of every table in the store before and after.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from evalharness.store import open_store
from tests.support.helpers import run_cli

TASK = """\
name: {name}
dataset:
  path: {data}
output_type: generate
prompt: "Say {{{{ word }}}}"
references: "{references}"
metrics: [exact_match]
"""
ROWS = '{"word": "a"}\n{"word": "b"}\n'
LATIN1 = "name: caf\xe9\n".encode("latin-1")


def task(name: str = "echo", data: str = "rows.jsonl", references: str = "[word]") -> str:
    return TASK.format(name=name, data=data, references=references)


def templated(prompt: str) -> str:
    return task().replace('"Say {{ word }}"', prompt)


RUN = ("run", "--model", "scripted", "--tasks", "{tmp}/t.yaml", "--db", "{db}", "--no-report")
RATINGS = ("ratings", "import", "{tmp}/r.csv", "--db", "{db}")
HEADER = "item_id,annotator,rubric,criterion,score,label\n"


def run_case(files: dict[str, str | bytes], *needles: str, args: tuple[str, ...] = RUN) -> dict:
    return {"files": {"rows.jsonl": ROWS, **files}, "args": args, "needles": needles}


def rating(row: str, *needles: str) -> dict:
    return {"files": {"r.csv": HEADER + row}, "args": RATINGS, "needles": ("r.csv", *needles)}


def config_case(model_args: str, *needles: str, model: str = "scripted") -> dict:
    config = f"model: {model}\nmodel_args: {model_args}\ntasks: ['{{tmp}}/t.yaml']\n"
    args = ("run", "{tmp}/c.yaml", "--db", "{db}", "--no-report")
    return {
        "files": {"t.yaml": task(), "rows.jsonl": ROWS, "c.yaml": config},
        "args": args,
        "needles": needles,
    }


def sampling(value: str, *needles: str) -> dict:
    return run_case({"t.yaml": task()}, "sampling", *needles, args=(*RUN, "--sampling", value))


CASES: dict[str, dict] = {
    # files that cannot be read
    "task yaml not utf-8": run_case({"t.yaml": LATIN1}, "t.yaml", "UTF-8"),
    "data jsonl not utf-8": run_case(
        {"t.yaml": task(), "rows.jsonl": b'{"word": "caf\xe9"}\n'}, "rows.jsonl", "UTF-8"
    ),
    "data csv not utf-8": run_case(
        {"t.yaml": task(data="rows.csv"), "rows.csv": b"word\ncaf\xe9\n"}, "rows.csv", "UTF-8"
    ),
    "data json malformed": run_case(
        {"t.yaml": task(data="rows.json"), "rows.json": '[{"word": "a"},'}, "rows.json", "JSON"
    ),
    "data csv malformed": run_case(
        {"t.yaml": task(data="rows.csv"), "rows.csv": 'word\n"a\nb,c,d\n1,2,3,4\n'},
        "rows.csv",
        "malformed csv",
    ),
    "data parquet malformed": run_case(
        {"t.yaml": task(data="rows.parquet"), "rows.parquet": b"PAR1 not really"},
        "rows.parquet",
        "malformed parquet",
    ),
    "data json not a list": run_case(
        {"t.yaml": task(data="rows.json"), "rows.json": '{"word": 3}'}, "rows.json", "list"
    ),
    "data jsonl row not an object": run_case({"t.yaml": task(), "rows.jsonl": "[1, 2]\n"}, "row 1"),
    "data jsonl bad line": run_case(
        {"t.yaml": task(), "rows.jsonl": '{"word": "a"}\n{oops\n'}, "rows.jsonl", "line 2"
    ),
    "data file missing": run_case({"t.yaml": task(data="none.jsonl")}, "none.jsonl", "not found"),
    "empty jsonl dataset": run_case({"t.yaml": task(), "rows.jsonl": ""}, "rows.jsonl", "no rows"),
    "empty csv dataset": run_case(
        {"t.yaml": task(data="rows.csv"), "rows.csv": ""}, "rows.csv", "no rows"
    ),
    "task yaml malformed": run_case({"t.yaml": "name: [x\n"}, "t.yaml", "malformed YAML"),
    "task yaml not a mapping": run_case({"t.yaml": "- a\n- b\n"}, "t.yaml", "mapping"),
    "task file missing": run_case({}, "t.yaml", args=(*RUN[:4], "{tmp}/t.yaml", *RUN[5:])),
    # fields
    "references evaluate to an int": run_case(
        {"t.yaml": task(references="3")}, "t.yaml", "references", "row 1", "got 3"
    ),
    "references evaluate to a mapping": run_case(
        {"t.yaml": task(references="{'a': 1}")}, "t.yaml", "references", "row 1"
    ),
    "row lacks a field": run_case(
        {"t.yaml": task(), "rows.jsonl": '{"word": "a"}\n{"other": 1}\n'}, "prompt", "row 2", "word"
    ),
    "unknown metric": run_case({"t.yaml": task().replace("exact_match", "exact_mtch")}, "metrics"),
    "generation temperature < 0 in task": run_case(
        {"t.yaml": task() + "generation: {temperature: -1}\n"}, "t.yaml", "generation.temperature"
    ),
    "duplicate task names": run_case(
        {"t.yaml": task(), "u.yaml": task()},
        "u.yaml",
        "t.yaml",
        "'echo'",
        args=(*RUN[:4], "{tmp}/t.yaml,{tmp}/u.yaml", *RUN[5:]),
    ),
    "fewshot k above the rows": run_case(
        {
            "t.yaml": task() + "fewshot: {k: 10, target: ' {{ word }}', path: shots.jsonl}\n",
            "shots.jsonl": ROWS,
        },
        "t.yaml",
        "shots.jsonl",
        "k=10",
    ),
    # sampling
    "sampling n=0": sampling("n=0", "n"),
    "sampling temperature=-1": sampling("temperature=-1", "temperature"),
    "sampling temperature=nan": sampling("temperature=.nan", "temperature", "finite"),
    "sampling top_p=7": sampling("top_p=7", "top_p"),
    "sampling top_p=0": sampling("top_p=0", "top_p"),
    "sampling max_tokens=-5": sampling("max_tokens=-5", "max_tokens"),
    "sampling top_k=0": sampling("top_k=0", "top_k"),
    "sampling unknown key": sampling("temprature=1", "temprature"),
    "sampling best_of_n=0": sampling("best_of_n=0", "best_of_n"),
    "sampling selector without best_of_n": sampling(
        "selector=logprob", "selector: only with best_of_n"
    ),
    "sampling selector_model_args not a mapping": sampling(
        "best_of_n=2,selector=judge:summeval,selector_model=scripted,selector_model_args=3",
        "selector_model_args: expected a mapping",
    ),
    "sampling not key=value": sampling("temperature", "key=value"),
    # options
    "--limit -1": run_case({"t.yaml": task()}, "--limit", args=(*RUN, "--limit", "-1")),
    "--limit 0": run_case({"t.yaml": task()}, "--limit", args=(*RUN, "--limit", "0")),
    "--chunk-size 0": run_case(
        {"t.yaml": task()}, "--chunk-size", args=(*RUN, "--chunk-size", "0")
    ),
    "--limit not a number": run_case({"t.yaml": task()}, "--limit", args=(*RUN, "--limit", "x")),
    "unknown model spec": run_case(
        {"t.yaml": task()}, "gpt5", args=("run", "--model", "gpt5", *RUN[3:])
    ),
    "unknown task name": run_case({}, "nosuchtask", args=(*RUN[:4], "nosuchtask", *RUN[5:])),
    "resume an unknown run": run_case({}, "nope", args=("run", "--resume", "nope", "--db", "{db}")),
    "bad store url": run_case({"t.yaml": task()}, "store", args=(*RUN[:6], "nosuch://x", *RUN[7:])),
    "model option delay_s: slow": config_case("{delay_s: slow}", "delay_s", "slow"),
    "model option log_path: 3": config_case("{log_path: 3}", "log_path"),
    "unknown model option": config_case("{colour: red}", "colour"),
    "api_key_env unset": config_case(
        "{base_url: 'http://127.0.0.1:9/v1', api_key_env: EVALHARNESS_UNSET_KEY}",
        "api_key_env",
        "EVALHARNESS_UNSET_KEY",
        model="openai:x",
    ),
    "run config not a mapping": {
        "files": {"c.yaml": "[1]\n"},
        "args": ("run", "{tmp}/c.yaml", "--db", "{db}"),
        "needles": ("c.yaml",),
    },
    # ratings files
    "ratings csv not utf-8": {
        "files": {"r.csv": HEADER.encode() + b"i1,caf\xe9,default,overall,3,\n"},
        "args": RATINGS,
        "needles": ("r.csv", "UTF-8"),
    },
    "ratings csv empty": {"files": {"r.csv": ""}, "args": RATINGS, "needles": ("r.csv", "no rows")},
    "ratings csv header only": rating("", "no rows"),
    "ratings csv malformed": {
        "files": {"r.csv": HEADER + 'i1,"alice\n'},
        "args": RATINGS,
        "needles": ("r.csv",),
    },
    "ratings sample_idx not an integer": {
        "files": {"r.csv": "item_id,annotator,criterion,score,sample_idx\ni1,alice,overall,3,x\n"},
        "args": RATINGS,
        "needles": ("r.csv", "row 2", "sample_idx"),
    },
    "ratings sample_idx fractional": {
        "files": {
            "r.csv": "item_id,annotator,criterion,score,sample_idx\ni1,alice,overall,3,1.5\n"
        },
        "args": RATINGS,
        "needles": ("r.csv", "row 2", "sample_idx"),
    },
    "ratings score 99 on 1-5": rating("i1,alice,summeval,coherence,99,\n", "row 2", "99", "1..5"),
    "ratings score -5 on 1-5": rating("i1,alice,summeval,coherence,-5,\n", "row 2", "-5"),
    "ratings score nan": rating("i1,alice,default,overall,nan,\n", "row 2", "finite"),
    "ratings score inf": rating("i1,alice,summeval,fluency,inf,\n", "row 2", "finite"),
    "ratings score not a number": rating("i1,alice,default,overall,good,\n", "row 2", "number"),
    "ratings unknown criterion": rating("i1,alice,summeval,humour,3,\n", "row 2", "humour"),
    "ratings label outside the set": rating(
        "i1,alice,pairwise_preference,preference,,C\n", "row 2", "'C'"
    ),
    "ratings annotator kind unknown": {
        "files": {"r.csv": "item_id,annotator,criterion,score,annotator_kind\ni1,a,o,3,robot\n"},
        "args": RATINGS,
        "needles": ("r.csv", "annotator_kind"),
    },
    "ratings missing column": {
        "files": {"r.csv": "item_id,score\ni1,3\n"},
        "args": RATINGS,
        "needles": ("r.csv", "annotator"),
    },
    "ratings jsonl line not an object": {
        "files": {"r.jsonl": "[1]\n"},
        "args": ("ratings", "import", "{tmp}/r.jsonl", "--db", "{db}"),
        "needles": ("r.jsonl", "line 1"),
    },
    "ratings file missing": {"files": {}, "args": RATINGS, "needles": ("r.csv",)},
    # gates and rubrics
    "gate with one invalid rule": {
        "files": {"g.yaml": "gates:\n  - {task: echo, metric: acc_nrom, min: 0.5}\n"},
        "args": ("gate", "{tmp}/g.yaml", "--run", "r1", "--db", "{db}"),
        "needles": ("g.yaml", "acc_nrom"),
    },
    "task judge with a bad rubric file": run_case(
        {
            "t.yaml": task() + "judges: [{rubric: '{tmp}/bad.yaml'}]\n",
            "bad.yaml": "name: bad\ndescription: d\ncriteria:\n  - {name: X, description: d}\n",
        },
        "bad.yaml",
        "criteria.0",
    ),
    "rubric yaml not utf-8": run_case(
        {"t.yaml": task() + "judges: [{rubric: '{tmp}/bad.yaml'}]\n", "bad.yaml": LATIN1},
        "bad.yaml",
        "UTF-8",
    ),
}


def template(prompt: str, *needles: str, env: dict[str, str] | None = None) -> dict:
    """A hostile or mistaken prompt template: a one-line ConfigError naming task and template."""
    text = task().replace('prompt: "Say {{ word }}"', f"prompt: {prompt!r}")
    case = run_case({"t.yaml": text}, "t.yaml", "task 'echo'", "template 'prompt'", *needles)
    return {**case, "env": env or {}}


NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
CASES.update(
    {
        "template 'a' * 10**9": template("{{ 'a' * 10**9 }}", "budget"),
        "template [1] * 10**9": template("{{ [1] * 10**9 }}", "budget"),
        "template 10**1000000000": template("{{ 10**1000000000 }}", "power"),
        "template range(10**9)": template("{% for i in range(10**9) %}{% endfor %}", "range"),
        "template 'a'.center(10**9)": template("{{ 'a'.center(10**9) }}", "center"),
        "template 'a'.ljust(10**9)": template("{{ 'a'.ljust(10**9) }}", "ljust"),
        "template |center(10**9)": template("{{ 'a'|center(10**9) }}", "center"),
        "template '{:>N}'.format": template("{{ '{:>1000000000}'.format(1) }}", "formatted"),
        "template '%Nd' % 1": template("{{ '%1000000000d' % 1 }}", "formatted"),
        "template nested range loops": template(
            NESTED, "longer than 1 s", env={"EVALHARNESS_RENDER_TIMEOUT_S": "1"}
        ),
        "template output over the cap": template(
            "{% for i in range(100000) %}{{ 'abcdefghijk' }}{% endfor %}", "rendered prompt"
        ),
        "template cap configurable": template(
            "Say {{ word }} again", "5-byte", env={"EVALHARNESS_MAX_PROMPT_BYTES": "5"}
        ),
        "template doubling namespace": template(
            "{% set ns = namespace(s='a') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "namespace",
        ),
        "template doubling macro": template(
            "{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s }}{% endmacro %}{{ d('a', 40) }}",
            "budget",
        ),
        "template self-recursive macro": template(
            "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"
        ),
        "template 1/0": template("{{ 1/0 }}", "ZeroDivisionError"),
        "--retry-failed without --resume": run_case(
            {"t.yaml": task()}, "--retry-failed", "--resume", args=(*RUN, "--retry-failed")
        ),
        "app beyond 127.0.0.1 without a token": {
            "files": {},
            "args": ("app", "--host", "0.0.0.0", "--db", "{db}"),
            "needles": ("--host 0.0.0.0", "token"),
            "env": {"EVALHARNESS_APP_TOKEN": ""},
        },
        "references 'a' * 10**9": run_case(
            {"t.yaml": task(references="['a' * 10**9]")}, "t.yaml", "references", "budget"
        ),
    }
)


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: con.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_the_table_has_forty_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_gives_one_line(case: dict, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    open_store(url)  # the tables exist, so that any row written shows in the counts
    for name, content in case["files"].items():
        data = content if isinstance(content, bytes) else content.replace("{tmp}", str(tmp_path))
        (tmp_path / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    args = [a.replace("{tmp}", str(tmp_path)).replace("{db}", url) for a in case["args"]]
    before = _counts(db)
    result = run_cli(*args, cwd=tmp_path, env={"EVALHARNESS_DB": url, **case.get("env", {})})
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in case["needles"]:
        assert needle.replace("{tmp}", str(tmp_path)) in lines[0], lines[0]
    assert _counts(db) == before
