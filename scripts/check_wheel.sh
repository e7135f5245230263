#!/usr/bin/env bash
# Build the wheel, install it (not editable) with the machine's own pip in a fresh virtualenv
# outside the checkout, and run what a new user runs first: db upgrade, an ingest of the seed,
# events --json. Fails if the wheel installs any top-level name but `newswatch`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3.11}
work=$(mktemp -d)
# the background Prefect server an ingest starts lives in this PREFECT_HOME and is stopped here
export PREFECT_HOME="$work/prefect-home"
trap '"$work/venv/bin/newswatch" server stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$repo"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/newswatch-*.whl
cd "$work"  # away from the checkout, so nothing is imported from it
top=$("$work/venv/bin/python" - <<'PY'
from importlib.metadata import files
names = {str(f).split("/")[0] for f in files("newswatch")}
print(" ".join(sorted(n for n in names if not n.endswith(".dist-info") and n not in {"..", "newswatch"})))
PY
)
[ -z "$top" ] || { echo "check_wheel: unexpected top-level names in the wheel: $top" >&2; exit 1; }
cp "$repo/seeds/000_30228fdb78730024.txt" seed.txt
export NEWSWATCH_DATABASE_URL="sqlite:///$work/wheel.db"
"$work/venv/bin/newswatch" db upgrade
"$work/venv/bin/newswatch" ingest seed.txt --published 2021-12-17
"$work/venv/bin/newswatch" events --json > events.jsonl
n=$(grep -c '"type": "DEMAND"' events.jsonl || true)
[ "$n" -ge 1 ] || { echo "check_wheel: no DEMAND event from the seed" >&2; exit 1; }
echo "check_wheel: ok ($n demands from the seed, installed from the wheel outside the checkout)"
