"""Human ratings: the ``ratings`` tables (``records``: annotators, rated items, ratings never
overwritten), checks of a rating against its rubric (``checks``), CSV/JSONL files in and out
(``files``), the bundled human-judgment sets (``importers``) and the annotation desk's logic
(``desk``: what an annotator rates next, saving their answers). The statistics over ratings
live in ``evalharness.meta``."""
