"""An lm-evaluation-harness task file → our ``TaskSpec``, run by our own runner.

Every key of the file is either converted, known to change no score (``tag``, ``metadata``,
...), or refused with one ``ConfigError`` line naming it: nothing is silently ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalharness.config import FewShotSpec, TaskSpec
from evalharness.errors import ConfigError
from evalharness.lmeval.hub_data import bundled_file, local_data, offline
from evalharness.lmeval.scoring import generation, scoring
from evalharness.lmeval.templates import Untranslatable, prompt_template, value_expression
from evalharness.lmeval.yaml_io import PythonFunction, looks_like_lm_eval, read_config
from evalharness.specs import parse_spec

CONVERTED = {
    "task", "output_type", "dataset_path", "dataset_name", "test_split", "validation_split",
    "training_split", "fewshot_split", "doc_to_text", "doc_to_target", "doc_to_choice",
    "target_delimiter", "fewshot_delimiter", "description", "num_fewshot", "fewshot_config",
    "metric_list", "filter_list", "generation_kwargs", "repeats", "dataset_kwargs",
}  # fmt: skip
NO_EFFECT = {
    "tag", "group", "task_alias", "group_alias", "metadata", "should_decontaminate",
    "doc_to_decontamination_query",
}  # fmt: skip
OUTPUT_TYPES = {"multiple_choice": "multiple_choice", "generate_until": "generate"}
__all__ = ["is_lm_eval_task", "load_lm_eval_task", "to_task_spec"]


def is_lm_eval_task(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and path.is_file() and looks_like_lm_eval(path)


def load_lm_eval_task(path: Path) -> tuple[TaskSpec, Path]:
    """The spec of an lm-eval task file and its folder (like ``config.load_task``)."""
    return to_task_spec(read_config(path), path), path.parent


def _refuse_functions(config: dict[str, Any], path: Path) -> None:
    """``!function`` anywhere (also inside lists and mappings) → one line naming it."""

    def walk(value: Any, key: str) -> None:
        if isinstance(value, PythonFunction):
            raise ConfigError(
                f"{value.file.name}: {key}: !function {value.name} needs Python code from the "
                "task folder, which evalharness does not run (no --trust-remote-code support)"
            )
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{key}.{i}")

    for key, value in config.items():
        walk(value, key)


def _check_keys(config: dict[str, Any], path: Path) -> None:
    for key in config:
        if key not in CONVERTED and key not in NO_EFFECT:
            raise ConfigError(f"{path}: {key}: lm-eval key not supported by evalharness")
    if config.get("repeats", 1) != 1:
        raise ConfigError(f"{path}: repeats: only 1 is supported, got {config['repeats']!r}")
    if config.get("dataset_kwargs"):
        raise ConfigError(f"{path}: dataset_kwargs: not supported (bundled or hub data only)")


def _dataset(config: dict[str, Any], split: str, path: Path, key: str) -> dict[str, Any]:
    """``DatasetSpec`` fields of one split: its bundled copy, else the hub unless offline."""
    hub, name = config.get("dataset_path"), config.get("dataset_name")
    if not isinstance(hub, str):
        raise ConfigError(f"{path}: dataset_path: expected a hub dataset id, got {hub!r}")
    local = local_data(hub, name, split)
    if local is not None:
        return {"path": str(bundled_file(local)), "convert": local.convert, "split": split}
    if offline():
        what = f"{hub}" + (f" {name}" if name else "") + f" split {split!r}"
        raise ConfigError(
            f"{path}: {key}: {what} has no bundled copy and the hub is offline "
            "(HF_HUB_OFFLINE / HF_DATASETS_OFFLINE); unset them to load it with "
            "datasets.load_dataset"
        )
    return {"hf": hub, "hf_config": name, "split": split}


def _expr(config: dict[str, Any], key: str, path: Path) -> str:
    try:
        return value_expression(config[key])
    except Untranslatable as exc:
        raise ConfigError(f"{path}: {key}: {exc}") from None


def to_task_spec(config: dict[str, Any], path: Path) -> TaskSpec:
    """The ``TaskSpec`` of a merged lm-eval config (includes resolved) read from ``path``."""
    _refuse_functions(config, path)
    _check_keys(config, path)
    output_type = OUTPUT_TYPES.get(config.get("output_type", "generate_until"))
    if output_type is None:
        raise ConfigError(f"{path}: output_type: {config['output_type']!r} is not supported")
    split = config.get("test_split") or config.get("validation_split")
    if not split:
        raise ConfigError(f"{path}: test_split: the file names no test or validation split")
    try:
        prompt = prompt_template(config.get("doc_to_text", ""))
    except Untranslatable as exc:
        raise ConfigError(f"{path}: doc_to_text: {exc}") from None
    if "doc_to_target" not in config:
        raise ConfigError(f"{path}: doc_to_target: missing")
    target = _expr(config, "doc_to_target", path)
    delimiter = config.get("target_delimiter", " ")
    fields: dict[str, Any] = {
        "name": config.get("task"),
        "dataset": _dataset(config, split, path, "test_split"),
        "output_type": output_type,
        "prompt": prompt,
        "target_delimiter": delimiter,
    }
    if output_type == "multiple_choice":
        if "doc_to_choice" not in config:
            raise ConfigError(f"{path}: doc_to_choice: multiple_choice needs it")
        choices = _expr(config, "doc_to_choice", path)
        fields["choices"] = choices
        fields["gold"] = (
            f"({target}) if ({target}) is not string else (({target}) | int "
            f"if ({target}).isdigit() else ({choices}).index({target}))"
        )
        shot_target = f"{{{{ ({choices})[{fields['gold']}] }}}}"
    else:
        fields["references"] = (
            f"({target}) if ({target}) is sequence and ({target}) is not string "
            f"else (({target}) | string)"
        )
        separator = config.get("fewshot_delimiter", "\n\n")
        fields["generation"] = generation(config.get("generation_kwargs") or {}, path, separator)
        shot_target = f"{{{{ {target} }}}}"
    fields.update(scoring(config, output_type, path))
    fields.update(_fewshot(config, fields["dataset"], delimiter, shot_target, path))
    return parse_spec(TaskSpec, fields, path)


def _fewshot(
    config: dict[str, Any], evaluated: dict[str, Any], delimiter: str, target: str, path: Path
) -> dict[str, Any]:
    """``fewshot`` (and ``system_prompt`` from ``description``) of the spec."""
    fs = config.get("fewshot_config") or {}
    unknown = set(fs) - {"sampler", "samples"}
    if unknown:
        raise ConfigError(f"{path}: fewshot_config.{sorted(unknown)[0]}: not supported")
    separator = config.get("fewshot_delimiter", "\n\n")
    out: dict[str, Any] = {}
    description = config.get("description") or ""
    if description:
        if "{{" in description or not description.endswith(separator):
            raise ConfigError(
                f"{path}: description: only plain text ending in the fewshot_delimiter "
                f"{separator!r} is supported"
            )
        out["system_prompt"] = description[: -len(separator)]
    k = config.get("num_fewshot") or 0
    if not isinstance(k, int) or k < 0:
        raise ConfigError(f"{path}: num_fewshot: expected 0 or more, got {k!r}")
    sampler = fs.get("sampler", "default")
    if sampler != "first_n":
        if k:
            raise ConfigError(
                f"{path}: fewshot_config.sampler: {sampler!r} (lm-eval's seeded random draw) is "
                "not reproduced; only first_n"
            )
        return out
    shot = {"k": k, "target": _literal(delimiter) + target, "separator": separator}
    if fs.get("samples"):
        if not isinstance(fs["samples"], list):
            raise ConfigError(f"{path}: fewshot_config.samples: expected a list of rows")
        out["fewshot"] = FewShotSpec(samples=tuple(fs["samples"]), sampler="first", **shot)
        return out
    shot_split = config.get("fewshot_split") or config.get("training_split")
    shot_split = shot_split or config.get("validation_split")
    try:
        data = _dataset(config, shot_split, path, "fewshot_split") if shot_split else None
    except ConfigError:
        if k:
            raise
        return out  # no examples available: --num-fewshot is refused later, 0-shot runs
    if data is None or data.get("convert") or data.get("hf"):
        if k:
            raise ConfigError(f"{path}: fewshot_split: no local examples for {k} shots")
        return out
    own = data["path"] == evaluated.get("path")  # first_n then skips the evaluated row
    out["fewshot"] = FewShotSpec(path=None if own else data["path"], sampler="first", **shot)
    return out


def _literal(text: str) -> str:
    """Plain text inside a template (a delimiter with ``{`` is written as a string)."""
    return text if "{" not in text else f"{{{{ {text!r} }}}}"
