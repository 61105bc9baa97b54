#!/usr/bin/env bash
# Build the wheel, install it (without its dependencies: the venv has them) into a folder of its
# own, and run the user's commands from a temporary folder with no checkout and nothing beside it.
# Usage: scripts/check-installed.sh PYTHON   (a venv's interpreter holding the dependencies)
set -euo pipefail
PY=${1:?usage: scripts/check-installed.sh PYTHON}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill "${app_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$work/dist" "$repo" 2>&1 | grep -v '^WARNING: Location' || true
"$PY" -m pip install --quiet --no-deps --target "$work/site" "$work"/dist/evalharness-*.whl 2>&1 | grep -v '^WARNING: Location' || true
mkdir "$work/user" && cd "$work/user"
export PYTHONPATH="$work/site" HF_HUB_OFFLINE=1 EVALHARNESS_DB="sqlite:///$work/user/store.db"
eh() { echo "+ evalharness $*"; "$PY" -m evalharness "$@"; }
where=$("$PY" -c 'import evalharness; print(evalharness.__file__)')
[[ $where == "$work/site/"* ]] || { echo "evalharness imported from $where, not the wheel" >&2; exit 1; }
eh --version
eh list tasks >tasks.txt && grep -q '^piqa' tasks.txt
eh run --model scripted --tasks piqa,gsm8k --limit 2 --json run.json >/dev/null
run_id=$("$PY" -c 'import json; print(json.load(open("run.json"))["run_id"])')
eh ratings import --dataset summeval
eh calibrate --dataset summeval --limit 5 >/dev/null
eh judge "$run_id" --task gsm8k --rubric summeval --judge-model scripted >/dev/null
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" -m evalharness app --port "$port" >app.log 2>&1 &
app_pid=$!
for _ in $(seq 60); do
    if "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/_stcore/health', timeout=2)" 2>/dev/null; then
        echo "the installed wheel: every command worked, the app answered its health check"; exit 0
    fi
    sleep 1
done
cat app.log >&2; echo "the app did not answer on port $port" >&2; exit 1
