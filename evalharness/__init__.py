"""evalharness: evaluate language models, store every sample, report with confidence intervals.

Importing the package stays light: torch and transformers load only when a model backend is built.
"""

from typing import Any

from evalharness.errors import EvalHarnessError

__all__ = ["EvalHarnessError", "evaluate", "resume"]


def __getattr__(name: str) -> Any:
    if name in ("evaluate", "resume"):
        from evalharness import api

        return getattr(api, name)
    raise AttributeError(name)
