"""Checks made before a run is stored: bad input fails with one line and leaves no trace.

A run row is written only once every task's items are built (``runner.plan.build_all``),
the task names are distinct, the model's options make sense and its credentials exist. Stored
configs never hold credentials: a ``base_url`` with ``user:key@`` or ``?api_key=`` is redacted.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from evalharness.errors import ConfigError

REDACTED = "***"
_SECRET_PARAM = re.compile(r"key|token|secret|password|passwd|pwd|sig|auth|credential", re.I)


def check_unique_names(loaded: list[tuple[Any, Path, Path]]) -> None:
    """Two task files with one ``name`` would share samples and aggregates: refuse them."""
    seen: dict[str, Path] = {}
    for spec, _, path in loaded:
        other = seen.setdefault(spec.name, path)
        if other != path:
            raise ConfigError(
                f"{path}: name: task {spec.name!r} is also defined by {other}; "
                "task names must be distinct within a run"
            )


def check_credentials(spec: str, options: dict[str, Any]) -> None:
    """An ``api_key_env`` naming an unset variable would send requests without credentials."""
    if not spec.startswith("openai:"):
        return
    name = options.get("api_key_env")
    if name is None:
        if options.get("base_url") or os.environ.get("OPENAI_BASE_URL"):
            return  # a local server that may need no key
        name = "OPENAI_API_KEY"  # the OpenAI API itself always needs one
    if isinstance(name, str) and not os.environ.get(name):
        raise ConfigError(
            f"model {spec!r}: api_key_env: environment variable {name} is not set "
            "(set it to the API key, or name the variable that holds it)"
        )


def redact_url(url: str) -> str:
    """``https://user:key@host/v1?api_key=k`` -> ``https://user:***@host/v1?api_key=***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if _SECRET_PARAM.search(k) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_options(options: dict[str, Any]) -> dict[str, Any]:
    """Model options as they may be stored: URLs without credentials."""
    out = dict(options)
    if isinstance(out.get("base_url"), str):
        out["base_url"] = redact_url(out["base_url"])
    return out


def check_resumable(spec: str, options: dict[str, Any]) -> None:
    """A stored base_url lost its credentials when it was redacted: say so instead of a 401."""
    url = options.get("base_url")
    if isinstance(url, str) and REDACTED in url:
        raise ConfigError(
            f"model {spec!r}: base_url: credentials in the URL were not stored ({url}); "
            "pass the key through api_key_env instead and start a new run"
        )
