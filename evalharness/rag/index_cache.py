"""Retrieval indexes built once and kept on disk under ``cache_root()/rag/``.

A folder's name is ``<kind>-<group>-<corpus digest>``: ``group`` hashes the corpus source and the
retriever settings, the digest hashes the passages (``Corpus.digest``). A changed corpus file has
another digest, so its index is built anew, and the stale folders of the same group are removed
then. Folders are built under a temporary name and renamed when complete (``meta.json`` marks a
finished one), so an interrupted build or two processes building at once never leave a half
index behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from evalharness.rag.corpus import Corpus

T = TypeVar("T")
FORMAT = 1  # bump when the on-disk layout of any index changes
META = "meta.json"


def default_root() -> Path:
    from evalharness.models.embedded import cache_root

    return cache_root() / "rag"


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def index_folder(
    kind: str, corpus: Corpus, settings: Mapping[str, Any], root: Path | None = None
) -> Path:
    group = _hash({"source": corpus.source, "settings": dict(settings), "format": FORMAT})[:10]
    return (root or default_root()) / f"{kind}-{group}-{corpus.digest[:16]}"


def cached_index(
    kind: str,
    corpus: Corpus,
    settings: Mapping[str, Any],
    *,
    build: Callable[[Path], None],
    load: Callable[[Path], T],
    root: Path | None = None,
) -> T:
    """``load(folder)`` of the finished folder for this corpus and settings; ``build(folder)``
    writes the index files into an empty folder first when there is none."""
    folder = index_folder(kind, corpus, settings, root)
    if not (folder / META).is_file():
        _build(folder, kind, corpus, settings, build)
        _prune(folder)
    return load(folder)


def _build(
    folder: Path,
    kind: str,
    corpus: Corpus,
    settings: Mapping[str, Any],
    build: Callable[[Path], None],
) -> None:
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        meta = {
            "kind": kind,
            "settings": dict(settings),
            "corpus_source": corpus.source,
            "corpus_digest": corpus.digest,
            "passages": len(corpus),
            "format": FORMAT,
        }
        (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        if folder.is_dir() and not (folder / META).is_file():  # left incomplete by a crash
            shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # fails if another process finished first: then its index is used
    except OSError:
        if not (folder / META).is_file():  # not a lost race with another process: a real error
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _prune(folder: Path) -> None:
    """Remove indexes of earlier versions of the same corpus (same kind, source and settings)."""
    prefix = folder.name.rsplit("-", 1)[0] + "-"
    for other in folder.parent.glob(f"{prefix}*"):
        if other != folder and ".tmp" not in other.name and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
