#!/usr/bin/env bash
# Release gate for any CI system: evaluate the candidate, gate it against the latest release run,
# write JUnit XML and Markdown, and exit with the gate's code: 0 pass, 1 a rule failed, 2 error.
#
#   examples/gate.sh            # evaluate and gate a candidate (run tagged "candidate")
#   examples/gate.sh release    # record a release run: the next candidates' baseline
#
# The store must outlive the CI job for a baseline to exist: set EVALHARNESS_DB to a team
# database (postgresql+psycopg://...) or keep evalharness.db in the CI system's cache.
# The first candidate has no release run to compare with: its max_drop rules report an error
# (exit 2) until `examples/gate.sh release` has run once with the same MODEL.
set -euo pipefail

EVALHARNESS=${EVALHARNESS:-.venv/bin/evalharness}
PYTHON=${PYTHON:-.venv/bin/python}
MODEL=${MODEL:-embedded}            # latest:release only matches runs of this same model spec
TASKS=${TASKS:-summeval_cnndm,piqa,wikitext2,flores_en_de}
LIMIT=${LIMIT:-200}                 # rows per task; keep it equal across runs so samples pair up
GATES=${GATES:-examples/gates.yaml}
BASELINE=${BASELINE:-latest:release}
OUT=${OUT:-reports}
TAG=${1:-candidate}

mkdir -p "$OUT"
"$EVALHARNESS" run --model "$MODEL" --tasks "$TASKS" --limit "$LIMIT" --tag "$TAG" \
    --json "$OUT/run.json" --no-report
RUN_ID=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["run_id"])' "$OUT/run.json")

status=0
"$EVALHARNESS" gate "$GATES" --run "$RUN_ID" --baseline "$BASELINE" \
    --junit "$OUT/gate.xml" --markdown "$OUT/gate.md" || status=$?

if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$OUT/gate.md" ]; then
    cat "$OUT/gate.md" >> "$GITHUB_STEP_SUMMARY"
fi
if [ "$TAG" = release ] && [ "$status" -eq 2 ]; then
    # e.g. the very first release has no earlier release to compare with: the run is recorded
    echo "gate.sh: release run $RUN_ID recorded; gate errors above are not fatal here" >&2
    status=0
fi
exit "$status"
