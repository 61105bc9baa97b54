"""lm-eval task-file tests need the lm_eval package's YAML files (``make`` installs them with
``pip install --no-deps lm_eval==0.4.13``); without it they skip, never fail."""

from __future__ import annotations

import pytest

from evalharness.lmeval.index import tasks_dir

if tasks_dir() is None:
    pytest.skip(
        "lm_eval is not installed (pip install --no-deps lm_eval==0.4.13)", allow_module_level=True
    )
