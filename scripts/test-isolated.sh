#!/usr/bin/env bash
# The test suite from a copy of this working tree (tracked and untracked, not ignored files) in a
# temporary folder with nothing beside it, so no test can lean on a folder outside the repository.
# Usage: scripts/test-isolated.sh PYTHON [pytest args]
set -euo pipefail
PY=${1:?usage: scripts/test-isolated.sh PYTHON [pytest args]}; shift
repo=$(cd "$(dirname "$0")/.." && pwd)
copy=$(mktemp -d)/evalharness
mkdir -p "$copy"
trap 'rm -rf "$(dirname "$copy")"' EXIT
(cd "$repo" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$copy"
cd "$copy"
echo "testing a copy of the tree in $copy"
PYTHONPATH="$copy" HF_HUB_OFFLINE=1 "$PY" -m pytest -q "$@"
