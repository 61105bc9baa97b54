"""evalharness: evaluate language models, store every sample, report with confidence intervals.

Importing the package stays light: torch and transformers load only when a model backend is built.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from evalharness.errors import EvalHarnessError

__all__ = ["EvalHarnessError", "__version__", "evaluate", "resume"]

try:  # the one version number is pyproject.toml's, read from the installed metadata
    __version__ = version("evalharness")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    if name in ("evaluate", "resume"):
        from evalharness import api

        return getattr(api, name)
    raise AttributeError(name)
