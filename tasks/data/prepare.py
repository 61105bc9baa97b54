"""Regenerate every file under tasks/data/ from the shared public data (stdlib only, deterministic).

Usage (from the repository root):  python tasks/data/prepare.py [SHARED_DATA_DIR]   (default: ../shared/data)

Each output folder gets the source's SOURCE.md (unchanged) plus a paragraph on the conversion done here, and the
source's licence file(s) where it has them.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

OUT = Path(__file__).resolve().parent
REPO = OUT.parent.parent

# The 8 chain-of-thought exemplars of Wei et al. 2022, exactly as lm-evaluation-harness ships them in
# lm_eval/tasks/gsm8k/gsm8k-cot.yaml (fewshot_config.samples, `question` / `target`; YAML folding resolved).
GSM8K_COT: list[tuple[str, str]] = [
    (
        "There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, "
        "there will be 21 trees. How many trees did the grove workers plant today?",
        "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been "
        "21 - 15 = 6. The answer is 6.",
    ),
    (
        "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
        "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.",
    ),
    (
        "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
        "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, "
        "they had 74 - 35 = 39. The answer is 39.",
    ),
    (
        "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did "
        "Jason give to Denny?",
        "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. "
        "The answer is 8.",
    ),
    (
        "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?",
        "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. "
        "The answer is 9.",
    ),
    (
        "There were nine computers in the server room. Five more computers were installed each day, from monday to "
        "thursday. How many computers are now in the server room?",
        "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers "
        "were added. 9 + 20 is 29. The answer is 29.",
    ),
    (
        "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf "
        "balls did he have at the end of wednesday?",
        "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he "
        "had 35 - 2 = 33 golf balls. The answer is 33.",
    ),
    (
        "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
        "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars "
        "left. 23 - 15 is 8. The answer is 8.",
    ),
]

# Conversion notes appended to each copied SOURCE.md: out folder -> (shared folder, licence files, note).
NOTES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "wikitext2": (
        "wikitext-2-raw",
        (),
        """\
`test.jsonl`: `wiki.test.raw` split into one document per article exactly as the Hugging Face dataset
`EleutherAI/wikitext_document_level` (config `wikitext-2-raw-v1`, test split) does it — the `_generate_examples` of its
loading script (a copy is in lm-evaluation-harness, `lm_eval/tasks/wikitext/wikitext_workaround/
wikitext_document_level/wikitext_document_level.py`; the same splitter is `docs_for_split` of lm-eval v0's
`lm_eval/tasks/wikitext.py`): a new document starts at each ` = Title = ` line, documents that are only whitespace
are dropped. Fields: `page` (the article's raw text, lines joined with `\\n`, exactly as that dataset gives it) and
`text` (= `wikitext_detokenizer(page)` of lm-evaluation-harness `lm_eval/tasks/wikitext/preprocess_wikitext.py`, the
string the model scores). Word and byte counts are taken from `page`, as lm-eval's `process_results` does. 62
documents; joined with `\\n` they give back the file byte for byte except its first line (a lone space, dropped by the
splitter), as prepare.py checks. Licence: CC BY-SA 3.0, as above.""",
    ),
    "piqa": (
        "piqa",
        (),
        """\
`valid.jsonl`: the 1,838 rows of `valid.jsonl` (`goal`, `sol1`, `sol2`) with `label` (int, 0 or 1) added from line i
of `valid-labels.lst`; other fields dropped. Licence: Academic Free License v3.0, as above (no licence file in the
source folder).""",
    ),
    "gsm8k": (
        "gsm8k",
        ("LICENSE",),
        """\
`test.jsonl`: the 1,319 rows with `question` and `answer` unchanged, plus `final` = the text after `#### ` with the
thousands commas removed (an integer string, e.g. `"18"`, `"-3"`). `fewshot_cot.jsonl`: the 8 chain-of-thought
exemplars of Wei et al. 2022 (`question`, `cot` ending in "The answer is N.") exactly as lm-evaluation-harness ships
them in `lm_eval/tasks/gsm8k/gsm8k-cot.yaml` (`fewshot_config.samples`, field `target` there), same order.""",
    ),
    "flores200": (
        "flores200-en-de-fr",
        (),
        """\
`en_de.devtest.jsonl`, `en_fr.devtest.jsonl` (1,012 rows) and `en_de.dev.jsonl`, `en_fr.dev.jsonl` (997 rows, for
few-shot examples only): `id` (1-based line number, as the `id` of the FLORES-200 release), `source` (English line),
`target` (the German/French line of the same number); text unchanged. Licence: CC BY-SA 4.0, as above (no licence
file in the source folder).""",
    ),
    "summeval": (
        "summeval",
        ("LICENSE-SummEval-MIT", "LICENSE-BARTScore-Apache-2.0"),
        """\
`documents.jsonl`: the 100 rows of `summeval_documents.jsonl` with `doc_id`, `source` and all 11 `references`
(`reference` dropped: it equals `references[0]`); text unchanged (PTB-tokenized). The judgments and G-Eval prompts are
not copied.""",
    ),
    "xquad": (
        "xquad",
        ("LICENSE-CC-BY-SA-4.0.txt",),
        """\
`en.jsonl`: `xquad.en.json` flattened to one row per question, in file order (1,190 rows): `id`, `title`, `context`,
`question`, `answers` (list of the answer texts; one per question here). `answer_start` is dropped. German not copied.

For the RAG task `xquad_en_rag`: `passages.jsonl` is the corpus, the 240 paragraphs in file order: `id`
(`<article title>#<paragraph number in the article, from 0>`, e.g. `Super_Bowl_50#0`), `title`, `text` (the
paragraph's `context`, unchanged). `rag_questions.jsonl` has the same 1,190 questions in the same order as `en.jsonl`
but without the passage or the article title (they would give the gold passage away): `id`, `question`, `answers`,
`passage_id` (the id of the question's own paragraph in `passages.jsonl`, its gold passage).""",
    ),
    "pubmedqa": (
        "pubmedqa",
        ("LICENSE",),
        """\
`passages.jsonl`: the retrieval corpus, one passage per abstract for all 1,000 PQA-L entries, in the file's key
order: `id` (the PubMed id), `text` (the `CONTEXTS` paragraphs joined with `\\n`, unchanged; the conclusion is not
part of them). The article title is left out on purpose: it is the question itself. `test.jsonl`: the 500 questions
of the official test split (`test_ground_truth.json`), in that file's order: `pmid` (also the id of the question's
gold passage), `question` (`QUESTION`), `answer` (`final_decision`: yes / no / maybe; 276 / 169 / 55),
`long_answer` (`LONG_ANSWER`, the abstract's conclusion). LABELS, MESHES, YEAR and the annotators' own labels are
not copied.""",
    ),
}


def wikitext_pages(raw: str) -> Iterator[str]:
    """Documents of EleutherAI/wikitext_document_level's `_generate_examples` (same logic, same output)."""
    ret: list[str] = []
    for line in raw.split("\n"):
        rline = line.replace("= = =", "===").replace("= =", "==").strip()
        if rline.startswith("= ") and rline.strip().endswith(" ="):
            page = "\n".join(ret)
            if page.strip():
                yield page
            ret = []
        ret.append(line)
    yield "\n".join(ret)


def wikitext_detokenizer(string: str) -> str:
    """lm-evaluation-harness lm_eval/tasks/wikitext/preprocess_wikitext.py `wikitext_detokenizer` (on doc["page"])."""
    # contractions
    string = string.replace("s '", "s'")
    string = re.sub(r"/' [0-9]/", r"/'[0-9]/", string)
    # number separators
    string = string.replace(" @-@ ", "-")
    string = string.replace(" @,@ ", ",")
    string = string.replace(" @.@ ", ".")
    # punctuation
    string = string.replace(" : ", ": ")
    string = string.replace(" ; ", "; ")
    string = string.replace(" . ", ". ")
    string = string.replace(" ! ", "! ")
    string = string.replace(" ? ", "? ")
    string = string.replace(" , ", ", ")
    # double brackets
    string = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", string)
    string = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", string)
    string = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", string)
    string = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', string)
    string = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", string)
    # miscellaneous
    string = string.replace("= = = =", "====")
    string = string.replace("= = =", "===")
    string = string.replace("= =", "==")
    string = string.replace(" " + chr(176) + " ", chr(176))
    string = string.replace(" \n", "\n")
    string = string.replace("\n ", "\n")
    string = string.replace(" N ", " 1 ")
    string = string.replace(" 's", "'s")
    return string


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    print(f"{path.relative_to(REPO)}: {n} rows")
    return n


def read_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert "\r" not in text and text.endswith("\n"), path
    return text[:-1].split("\n")


def wikitext2(src: Path) -> None:
    # Text mode, as the dataset script opens it (the file has LF line ends only).
    with (src / "wikitext-2-raw" / "wiki.test.raw").open(encoding="utf-8") as f:
        raw = f.read()
    pages = list(wikitext_pages(raw))
    # Every line lands in exactly one page except whitespace-only stretches before a title, which the splitter drops.
    kept = "\n".join(pages)
    assert kept == raw[len(raw) - len(kept) :] and not raw[: len(raw) - len(kept)].strip(), (
        "pages lost text"
    )
    write_jsonl(
        OUT / "wikitext2" / "test.jsonl",
        ({"page": p, "text": wikitext_detokenizer(p)} for p in pages),
    )


def piqa(src: Path) -> None:
    rows = read_jsonl(src / "piqa" / "valid.jsonl")
    labels = read_lines(src / "piqa" / "valid-labels.lst")
    assert len(rows) == len(labels) == 1838
    write_jsonl(
        OUT / "piqa" / "valid.jsonl",
        (
            {"goal": r["goal"], "sol1": r["sol1"], "sol2": r["sol2"], "label": int(lab)}
            for r, lab in zip(rows, labels, strict=True)
        ),
    )


def gsm8k(src: Path) -> None:
    rows = []
    for r in read_jsonl(src / "gsm8k" / "test.jsonl"):
        final = r["answer"].split("#### ")[-1].strip().replace(",", "")
        assert re.fullmatch(r"-?\d+", final), final
        rows.append({"question": r["question"], "answer": r["answer"], "final": final})
    write_jsonl(OUT / "gsm8k" / "test.jsonl", rows)
    write_jsonl(
        OUT / "gsm8k" / "fewshot_cot.jsonl", ({"question": q, "cot": c} for q, c in GSM8K_COT)
    )


def flores200(src: Path) -> None:
    folder = src / "flores200-en-de-fr"
    for split, size in (("devtest", 1012), ("dev", 997)):
        english = read_lines(folder / f"eng_Latn.{split}")
        for code, lang in (("de", "deu_Latn"), ("fr", "fra_Latn")):
            other = read_lines(folder / f"{lang}.{split}")
            assert len(english) == len(other) == size
            write_jsonl(
                OUT / "flores200" / f"en_{code}.{split}.jsonl",
                (
                    {"id": i, "source": s, "target": t}
                    for i, (s, t) in enumerate(zip(english, other, strict=True), 1)
                ),
            )


def summeval(src: Path) -> None:
    rows = read_jsonl(src / "summeval" / "summeval_documents.jsonl")
    assert all(len(r["references"]) == 11 and r["references"][0] == r["reference"] for r in rows)
    write_jsonl(
        OUT / "summeval" / "documents.jsonl",
        (
            {"doc_id": r["doc_id"], "source": r["source"], "references": r["references"]}
            for r in rows
        ),
    )


def xquad(src: Path) -> None:
    data = json.loads((src / "xquad" / "xquad.en.json").read_text(encoding="utf-8"))["data"]
    write_jsonl(
        OUT / "xquad" / "en.jsonl",
        (
            {
                "id": qa["id"],
                "title": article["title"],
                "context": paragraph["context"],
                "question": qa["question"],
                "answers": [a["text"] for a in qa["answers"]],
            }
            for article in data
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        ),
    )


def xquad_rag(src: Path) -> None:
    data = json.loads((src / "xquad" / "xquad.en.json").read_text(encoding="utf-8"))["data"]
    passages, questions = [], []
    for article in data:
        for j, paragraph in enumerate(article["paragraphs"]):
            pid = f"{article['title']}#{j}"
            passages.append({"id": pid, "title": article["title"], "text": paragraph["context"]})
            questions.extend(
                {
                    "id": qa["id"],
                    "question": qa["question"],
                    "answers": [a["text"] for a in qa["answers"]],
                    "passage_id": pid,
                }
                for qa in paragraph["qas"]
            )
    assert len(passages) == 240 and len(questions) == 1190
    assert len({p["id"] for p in passages}) == 240
    write_jsonl(OUT / "xquad" / "passages.jsonl", passages)
    write_jsonl(OUT / "xquad" / "rag_questions.jsonl", questions)


def pubmedqa(src: Path) -> None:
    data = json.loads((src / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    test = json.loads((src / "pubmedqa" / "test_ground_truth.json").read_text(encoding="utf-8"))
    assert len(data) == 1000 and len(test) == 500
    assert all(data[pmid]["final_decision"] == label for pmid, label in test.items())
    write_jsonl(
        OUT / "pubmedqa" / "passages.jsonl",
        ({"id": pmid, "text": "\n".join(entry["CONTEXTS"])} for pmid, entry in data.items()),
    )
    write_jsonl(
        OUT / "pubmedqa" / "test.jsonl",
        (
            {
                "pmid": pmid,
                "question": data[pmid]["QUESTION"],
                "answer": label,
                "long_answer": data[pmid]["LONG_ANSWER"],
            }
            for pmid, label in test.items()
        ),
    )


def provenance(src: Path) -> None:
    for out_name, (shared, licences, note) in NOTES.items():
        text = (src / shared / "SOURCE.md").read_text(encoding="utf-8").rstrip("\n")
        added = f"\n\n## Conversion for evalharness (`tasks/data/prepare.py`, from `shared/data/{shared}/`)\n{note}\n"
        (OUT / out_name / "SOURCE.md").write_text(text + added, encoding="utf-8", newline="\n")
        for name in licences:
            shutil.copyfile(src / shared / name, OUT / out_name / name)


def main(argv: list[str]) -> None:
    src = Path(argv[1]) if len(argv) > 1 else REPO / ".." / "shared" / "data"
    if not src.is_dir():
        sys.exit(f"shared data folder not found: {src}")
    for build in (
        wikitext2,
        piqa,
        gsm8k,
        flores200,
        summeval,
        xquad,
        xquad_rag,
        pubmedqa,
        provenance,
    ):
        build(src)


if __name__ == "__main__":
    main(sys.argv)
