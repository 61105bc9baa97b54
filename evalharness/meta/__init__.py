"""Meta-evaluation: how far a judge's (or metric's) numbers can be trusted.

- ``records``: human ratings in the store (annotators, rated items, ratings never overwritten)
- ``agreement``: judge-vs-human agreement at item / summary / system level, and human-human
  agreement, every statistic with a bootstrap CI; ``pairwise``: verdicts with ties
- ``calibration``: isotonic calibration with cross-fitting, prediction-powered inference
- ``bias``: position, verbosity and self-preference bias; prompt-injection probes
- ``importers``: the bundled human-judgment sets; ``tables``: the standard tables; ``cli``

``evalharness.meta.agreement`` is the function ``agreement.agreement`` (the module's helpers are
imported with ``from evalharness.meta.agreement import ...``). Only numpy loads here; scipy,
scikit-learn, krippendorff and pandas load when a statistic needs them.
"""

from evalharness.meta.agreement import agreement

__all__ = ["agreement"]
