"""``python -m evalharness.cli``: the same command line as ``evalharness``."""

from evalharness.cli import main

main()
