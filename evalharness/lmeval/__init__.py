"""lm-evaluation-harness task files run by evalharness: ``--tasks lm-eval:NAME`` or a path.

``index`` finds a task's YAML in the installed ``lm_eval`` package (never imported),
``yaml_io`` reads it (``include:``, ``!function``), ``templates`` / ``scoring`` / ``hub_data``
turn its keys into ``TaskSpec`` fields and ``convert`` builds the spec our runner runs.
Importing this package imports nothing.
"""
