"""Specs: pydantic models validated once when YAML or CLI input is loaded, then frozen.

Every error names the file and the field:
``tasks/piqa.yaml: metrics.1: unknown metric 'acc_nrom'``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from evalharness.errors import ConfigError
from evalharness.filters import AnswerFilter
from evalharness.judges.rubric import load_rubric
from evalharness.metrics import METRICS
from evalharness.metrics.lm_match import MatchOptions
from evalharness.models import check_spec
from evalharness.requests import Sampling
from evalharness.specs import OutputKind, Spec, parse_spec, read_yaml


def _model_spec(spec: str) -> str:
    try:
        return check_spec(spec)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


ModelSpec = Annotated[str, AfterValidator(_model_spec)]  # a backend's spec, checked, not loaded


def _one_of(what: str, name: str, known: Collection[str]) -> str:
    if name not in known:
        raise ValueError(f"unknown {what} {name!r} (known: {', '.join(known)})")
    return name


def _known_metric(name: str) -> str:
    """A registered metric, or ``BASE,FILTER``: BASE on the answer of a named answer filter."""
    base, _, _ = name.partition(",")
    _one_of("metric", base, sorted(METRICS))
    return name


class DatasetSpec(Spec):
    """Rows come from a local file (path relative to the task file) or a Hugging Face dataset."""

    path: str | None = None
    format: Literal["jsonl", "json", "csv", "parquet", "text"] | None = None  # default: by suffix
    hf: str | None = None  # hub id, for users who have the hub
    hf_config: str | None = None
    split: str = "test"
    convert: str | None = None  # a named row converter (``lmeval/hub_data.py``: hub layout)

    @field_validator("convert")
    @classmethod
    def _known_converter(cls, name: str | None) -> str | None:
        from evalharness.lmeval.hub_data import CONVERTERS

        return name if name is None else _one_of("converter", name, CONVERTERS)

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.path is None) == (self.hf is None):
            raise ValueError("give exactly one of 'path' (a local file) or 'hf' (a hub dataset id)")
        return self


class FewShotSpec(Spec):
    """Examples shown before each prompt: rendered with the task's prompt plus ``target``."""

    path: str | None = None  # default: the task's own dataset (other rows than the one asked)
    samples: tuple[dict[str, Any], ...] = ()  # inline example rows (instead of a file)
    k: int = Field(0, ge=0)
    target: str  # template of the answer shown after each example's prompt
    separator: str = "\n\n"
    sampler: Literal["first", "random"] = "first"
    seed: int = 1234


class RagSpec(Spec):
    """Retrieval in front of the model: passages found for each row go into its prompt context.

    ``retriever: none`` keeps the block (gold ids, stored fields) but retrieves nothing: the
    RAG-off baseline of the same task.
    """

    corpus: str  # a JSONL of passages {id, text, title?} or a folder of .txt files (task-relative)
    chunk_size: int = Field(200, ge=1)  # words per chunk; folders of .txt files only
    chunk_overlap: int = Field(40, ge=0)  # words shared by consecutive chunks
    retriever: str = "bm25"  # none | bm25 | dense | hybrid
    k: int = Field(5, ge=1)  # passages retrieved per row
    query: str = "{{ question }}"  # template: the search query of a row
    gold: str | None = None  # expression: the gold passage id, or a list of ids (retrieval metrics)
    passages_field: str = "passages"  # the templates see the hits as a list of {id, score, text}

    @field_validator("retriever")
    @classmethod
    def _known_retriever(cls, name: str) -> str:
        from evalharness.rag.retrievers import RETRIEVER_NAMES

        return _one_of("retriever", name, RETRIEVER_NAMES)

    @field_validator("passages_field")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not a name a template can use")
        return name

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RagSpec:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        return self


class JudgeSpec(Spec):
    """A rubric autorater run on a task's stored samples (``evalharness/judges/``).

    Judges of one task that share a rubric are combined (``combine``) and also kept one by one.
    """

    rubric: str  # a rubric name under rubrics/, or a path to a rubric YAML file
    model: str = "embedded"  # judge model spec string (or the name of the evaluated model)
    model_args: dict[str, Any] = Field(default_factory=dict)  # its backend options (base_url..)
    mode: Literal["pointwise", "reference_guided"] | None = None  # None: as the rubric says
    n: int = Field(1, ge=1)  # answers sampled per item (self-consistency); 1 = greedy
    combine: Literal["mean", "majority"] = "mean"  # over the n answers and the rubric's judges
    max_reasks: int = Field(2, ge=0, le=5)  # re-asks after an invalid answer
    source: str | None = None  # template: what the judge sees as input (default: the prompt)
    output: str | None = None  # template: what the judge rates (default: the model's answer)

    @field_validator("rubric")
    @classmethod
    def _known_rubric(cls, name: str) -> str:
        try:
            rubric = load_rubric(name)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if rubric.mode == "pairwise":
            raise ValueError(
                f"rubric {name!r} is pairwise; a task's judges score each sample "
                "(compare two runs with `evalharness judge-pairwise`)"
            )
        return name


def _check_judges(judges: tuple[JudgeSpec, ...], info: ValidationInfo) -> tuple[JudgeSpec, ...]:
    if judges and info.data.get("output_type", "generate") != "generate":
        raise ValueError("judges need generated outputs (output_type: generate)")
    seen: dict[str, JudgeSpec] = {}
    for i, judge in enumerate(judges):
        other = seen.setdefault(judge.rubric, judge)
        if other is not judge and other.model == judge.model:
            raise ValueError(f"entry {i} repeats rubric {judge.rubric!r} with {judge.model!r}")
        if other.combine != judge.combine:
            raise ValueError(f"entry {i}: judges of rubric {judge.rubric!r} need one 'combine'")
    return judges


class TaskSpec(Spec):
    name: str
    description: str = ""
    dataset: DatasetSpec
    output_type: Literal["generate", "multiple_choice", "perplexity"]
    format: Literal["completion", "chat"] = "completion"
    system_prompt: str | None = None
    # Templates render text; expressions return values (lists, ints) from a row's fields.
    prompt: str = ""  # template: the context (generate, multiple_choice)
    references: str | None = None  # expression: a string or list of strings (generate)
    choices: str | None = None  # expression: list of strings (multiple_choice)
    gold: str | None = None  # expression: index of the right choice (multiple_choice)
    target_delimiter: str = " "  # put between the context and each choice
    text: str | None = None  # template: the text scored (perplexity)
    count_text: str | None = None  # template: text whose words/bytes normalise perplexity
    answer_extractor: str = "none"
    answer_filters: tuple[AnswerFilter, ...] = ()  # named pipelines; metric "BASE,NAME" scores one
    match: MatchOptions = Field(default_factory=MatchOptions)  # options of lm_exact_match
    fewshot: FewShotSpec | None = None
    generation: Sampling = Field(default_factory=Sampling)
    # may be empty when judges score the task; checked one by one, so errors name the index
    metrics: tuple[Annotated[str, AfterValidator(_known_metric)], ...] = ()
    # expression: later user turns, each asked after the model's own previous answer (chat)
    followups: str | None = None
    limit: int | None = Field(None, ge=1)  # default row cap of the task itself
    rag: RagSpec | None = None  # retrieval-augmented prompts (evalharness/rag/)
    judges: Annotated[tuple[JudgeSpec, ...], AfterValidator(_check_judges)] = ()  # autoraters
    generates: OutputKind | None = None  # what the outputs are: which rubrics fit (the desk)

    @field_validator("answer_extractor")
    @classmethod
    def _known_extractor(cls, name: str) -> str:
        from evalharness.extract import EXTRACTORS

        return _one_of("answer_extractor", name, EXTRACTORS)

    @model_validator(mode="after")
    def _fields_for_output_type(self) -> TaskSpec:
        if not self.metrics and not self.judges:
            raise ValueError("list at least one metric or judge")
        if self.followups and self.format != "chat":
            raise ValueError("followups need format: chat (the answers become assistant turns)")
        needed = {
            "generate": ("prompt", "references") if self.metrics else ("prompt",),
            "multiple_choice": ("prompt", "choices", "gold"),
            "perplexity": ("text",),
        }[self.output_type]
        for field in needed:
            if not getattr(self, field):
                raise ValueError(f"output_type {self.output_type!r} needs the field {field!r}")
        filters = {f.name for f in self.answer_filters}
        for name in self.metrics:
            name, _, pipeline = name.partition(",")
            if pipeline and pipeline not in filters:
                raise ValueError(f"metric {name},{pipeline}: no answer filter named {pipeline!r}")
            kind = METRICS[name].output_type
            if kind != self.output_type:
                raise ValueError(f"metric {name!r} is for {kind!r} tasks, not {self.output_type!r}")
        return self


def load_task(path: Path) -> tuple[TaskSpec, Path]:
    """The spec and the folder its relative data paths resolve against."""
    return parse_spec(TaskSpec, read_yaml(path), path), path.parent


class RunSpec(Spec):
    """A run configuration file: what `evalharness run CONFIG.yaml` reads (CLI flags override)."""

    model: str = "embedded"
    model_args: dict[str, Any] = Field(default_factory=dict)
    tasks: tuple[str, ...] = ("all",)
    limit: int | None = Field(None, ge=1)
    tags: tuple[str, ...] = ()
    sampling: dict[str, Any] = Field(default_factory=dict)  # the settings the model ships with
    judge_model: ModelSpec | None = None  # replaces the model of every task judge
    judge_model_args: dict[str, Any] = Field(default_factory=dict)  # ... with these options


def load_run_spec(path: Path) -> RunSpec:
    return parse_spec(RunSpec, read_yaml(path), path)
