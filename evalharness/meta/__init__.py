"""Meta-evaluation: how far a judge's (or metric's) numbers can be trusted.

- ``agreement``: judge-vs-human agreement at item / summary / system level, and human-human
  agreement, every statistic with a bootstrap CI; ``pairwise``: verdicts with ties
- ``calibration``: isotonic calibration with cross-fitting, prediction-powered inference
- ``bias``: position, verbosity and self-preference bias; prompt-injection probes
- ``tables``, ``judge_tables``, ``metric_scores``: the standard tables; ``statistics``

Storing and importing the ratings themselves is ``evalharness.ratings``.

``evalharness.meta.agreement`` is the function ``agreement.agreement`` (the module's helpers are
imported with ``from evalharness.meta.agreement import ...``). Only numpy loads here; scipy,
scikit-learn, krippendorff and pandas load when a statistic needs them.
"""

from evalharness.meta.agreement import agreement

__all__ = ["agreement"]
