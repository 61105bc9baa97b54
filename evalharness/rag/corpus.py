"""A retrieval corpus: passages with ids and text, and a content hash that keys index caches.

Two sources:

- a JSONL file, one passage per line: ``{"id": "p1", "text": "...", "title": "..."}`` (title
  optional; other fields ignored);
- a folder of ``.txt`` files (searched recursively, sorted by path), each split into chunks of
  ``chunk_size`` words that overlap by ``chunk_overlap`` words; a chunk's id is
  ``<relative path>#<chunk number from 0>`` and its title the file's stem.

The digest hashes the passages themselves (ids, titles, texts, in order), so it changes when the
file changes or when the chunk settings cut the text differently, and not when a file is merely
touched or moved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from evalharness.errors import DataError
from evalharness.jsonl import read_jsonl


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    title: str = ""


@dataclass(frozen=True)
class Corpus:
    passages: tuple[Passage, ...]
    source: str  # where it was read from, for messages

    @cached_property
    def digest(self) -> str:
        """sha256 over the passages' ids, titles and texts, in order."""
        digest = hashlib.sha256()
        for p in self.passages:
            digest.update(json.dumps([p.id, p.title, p.text], ensure_ascii=False).encode())
            digest.update(b"\n")
        return digest.hexdigest()

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.passages]

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.passages]

    def __len__(self) -> int:
        return len(self.passages)


def chunk_words(text: str, size: int, overlap: int) -> list[str]:
    """Windows of ``size`` words starting every ``size - overlap`` words; the last one may be
    shorter, and no window lies wholly inside the previous one."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need 0 <= chunk_overlap < chunk_size, got {overlap} and {size}")
    words = text.split()
    step = size - overlap
    chunks = []
    for start in range(0, len(words), step):
        chunks.append(" ".join(words[start : start + size]))
        if start + size >= len(words):
            break
    return chunks


def load_corpus(path: Path, *, chunk_size: int = 200, chunk_overlap: int = 40) -> Corpus:
    """Passages from a JSONL file or a folder of .txt files (chunked); see the module docstring."""
    if path.is_dir():
        passages = _from_folder(path, chunk_size, chunk_overlap)
    elif path.is_file():
        passages = _from_jsonl(path)
    else:
        raise DataError(f"corpus not found: {path}")
    if not passages:
        raise DataError(f"{path}: the corpus has no passages")
    seen: set[str] = set()
    for p in passages:
        if p.id in seen:
            raise DataError(f"{path}: duplicate passage id {p.id!r}")
        seen.add(p.id)
    return Corpus(tuple(passages), str(path))


def _from_jsonl(path: Path) -> list[Passage]:
    passages = []
    for number, row in read_jsonl(path):
        if "id" not in row or not row.get("text"):
            raise DataError(f"{path}: line {number}: a passage needs 'id' and non-empty 'text'")
        passages.append(Passage(str(row["id"]), str(row["text"]), str(row.get("title") or "")))
    return passages


def _from_folder(folder: Path, size: int, overlap: int) -> list[Passage]:
    passages = []
    for file in sorted(folder.rglob("*.txt")):
        rel = file.relative_to(folder).as_posix()
        text = file.read_text(encoding="utf-8")
        for i, chunk in enumerate(chunk_words(text, size, overlap)):
            passages.append(Passage(f"{rel}#{i}", chunk, file.stem))
    return passages
