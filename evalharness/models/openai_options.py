"""Checking ``OpenAIModel``'s options: each bad value is a ``ConfigError`` that names it.

Run when the model is built, before any request is sent; ``base_url`` is also normalised
here (a bare host gets ``/v1``, the query and fragment are dropped).
"""

from __future__ import annotations

import os
import re
from typing import Any

import httpx

from evalharness.errors import ConfigError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_api_key_env(where: str, api_key_env: Any) -> None:
    """The option names the variable; the key itself is never an option."""
    if not isinstance(api_key_env, str) or not _ENV_NAME.fullmatch(api_key_env):
        raise ConfigError(
            f"{where}: api_key_env must be the NAME of an environment variable "
            "(the key itself is read from the environment only)"
        )


def check_number(
    where: str, option: str, value: Any, minimum: float, integer: bool = False
) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{where}: {option} must be {kind} >= {minimum}, got {value!r}")


def check_flags(where: str, logprobs: Any, stream: Any, extra_sampling: Any) -> None:
    for option, value in (("logprobs", logprobs), ("stream", stream)):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {option} must be true or false, got {value!r}")
    if not isinstance(extra_sampling, bool):
        raise ConfigError(f"{where}: extra_sampling must be true or false")


def check_prices(where: str, prices: Any) -> dict[str, float] | None:
    if prices is None:
        return None
    if not isinstance(prices, dict) or not set(prices) <= {"prompt", "completion"}:
        raise ConfigError(
            f"{where}: prices must be {{prompt: $ per 1M tokens, completion: $ per 1M tokens}}"
        )
    for key, value in prices.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}: prices.{key} must be a number >= 0, got {value!r}")
    return {key: float(value) for key, value in prices.items()}


def check_base_url(where: str, base_url: str | None) -> tuple[str, str, int]:
    """``(base URL, host, port)``: the option, else ``$OPENAI_BASE_URL``, else OpenAI's."""
    url = httpx.URL(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"{where}: base_url must be an http(s) URL, got {str(url)!r}")
    if url.path in ("", "/"):
        url = url.copy_with(path="/v1")
    port = url.port or (443 if url.scheme == "https" else 80)
    return str(url.copy_with(query=None, fragment=None)).rstrip("/"), url.host, port
