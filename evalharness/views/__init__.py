"""What the app's pages show, as pandas DataFrames and plain data (no Streamlit in here).

Each page calls one or two of these functions and draws the result, so the numbers on screen
are tested without a browser. Everything is read from the store; nothing here writes.
``leaderboard`` (models × tasks × metrics), ``samples`` (one run's samples), ``compare``
(two runs), ``charts`` (Altair charts of those frames), ``calibration`` (judge vs human).
"""

from __future__ import annotations

from evalharness.views.compare import (
    comparison,
    flipped,
    per_sample_metrics,
    shared_tasks,
)
from evalharness.views.leaderboard import (
    LEADERBOARD_COLUMNS,
    leaderboard,
    matrix,
    run_label,
    runs_frame,
    shown,
    trend,
)
from evalharness.views.samples import (
    SampleView,
    filter_samples,
    haystack,
    preview,
    sample_view,
    samples_frame,
    score_names,
)

__all__ = [
    "LEADERBOARD_COLUMNS",
    "SampleView",
    "comparison",
    "filter_samples",
    "flipped",
    "haystack",
    "leaderboard",
    "matrix",
    "per_sample_metrics",
    "preview",
    "run_label",
    "runs_frame",
    "sample_view",
    "samples_frame",
    "score_names",
    "shared_tasks",
    "shown",
    "trend",
]
