"""Content-addressed response cache, shared across runs and stores.

A response is keyed on the model's identity (name incl. revision or file hash), the request and
its sampling settings (incl. seed), so a repeated run makes no model calls. Sampled generations
without a seed are never cached: each run must draw fresh samples. Failed results are not cached,
so a retry after a server fault asks again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from evalharness import requests as rq
from evalharness.models.base import Model


def default_cache_path() -> Path:
    from evalharness.models.embedded import cache_root

    explicit = os.environ.get("EVALHARNESS_RESPONSE_CACHE")
    return Path(explicit) if explicit else cache_root() / "responses.sqlite"


class ResponseCache:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT)")
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                query = f"SELECT key, value FROM responses WHERE key IN ({marks})"
                for key, value in self._db.execute(query, part):
                    found[key] = json.loads(value)
        return found

    def put_many(self, items: dict[str, Any]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)",
                [(key, json.dumps(value)) for key, value in items.items()],
            )
            self._db.commit()


def request_key(model_identity: str, kind: str, request: Any) -> str:
    fields = dataclasses.asdict(request)
    if fields.get("item", 0) is None:  # unkeyed requests keep the keys they had before ``item``
        del fields["item"]
    sampling = fields.get("sampling")
    if isinstance(sampling, dict) and sampling.get("json_schema") is None:
        sampling.pop("json_schema", None)  # unconstrained: the key of every earlier release
    payload = {"model": model_identity, "kind": kind, "request": fields}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=list)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedModel:
    """Wraps any Model: answers from the cache, sends only the misses (as one list) to the model."""

    def __init__(self, model: Model, cache: ResponseCache) -> None:
        self.model = model
        self.cache = cache
        self.name = model.name
        self.capabilities = model.capabilities
        self.fingerprint = self.identity = model.fingerprint  # the cache key; still a Model
        self.hits = 0
        self.misses = 0

    def generate(self, requests: list[rq.GenerateRequest]) -> list[rq.Generation]:
        cacheable = [r.sampling.greedy or r.sampling.seed is not None for r in requests]
        return self._through(
            "generate", requests, self.model.generate, rq.Generation, cacheable, _tuple_texts
        )

    def loglikelihood(
        self, requests: list[rq.LoglikelihoodRequest]
    ) -> list[rq.LoglikelihoodResult]:
        return self._through(
            "loglikelihood", requests, self.model.loglikelihood, rq.LoglikelihoodResult
        )

    def loglikelihood_rolling(self, requests: list[rq.RollingRequest]) -> list[rq.RollingResult]:
        return self._through(
            "loglikelihood_rolling", requests, self.model.loglikelihood_rolling, rq.RollingResult
        )

    def _through(
        self,
        kind: str,
        requests: list[Any],
        call: Any,
        record: type,
        cacheable: list[bool] | None = None,
        revive: Any = None,
    ) -> list[Any]:
        keys = [request_key(self.identity, kind, r) for r in requests]
        allowed = cacheable or [True] * len(requests)
        stored = self.cache.get_many([k for k, ok in zip(keys, allowed, strict=True) if ok])
        results: list[Any] = [None] * len(requests)
        missing = []
        for i, key in enumerate(keys):
            if key in stored:
                fields = stored[key]
                results[i] = record(**(revive(fields) if revive else fields))
            else:
                missing.append(i)
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = call([requests[i] for i in missing])
            new = {}
            for i, result in zip(missing, fresh, strict=True):
                results[i] = result
                if allowed[i] and result.error is None:
                    new[keys[i]] = dataclasses.asdict(result)
            if new:
                self.cache.put_many(new)
        return results


def _tuple_texts(fields: dict[str, Any]) -> dict[str, Any]:
    return {**fields, "texts": tuple(fields["texts"])}
