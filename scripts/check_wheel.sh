#!/usr/bin/env bash
# Build the wheel, install it (not editable) with the machine's own pip in a fresh virtualenv
# outside the checkout, and run what a new user runs first: db upgrade, an ingest of the seed,
# an HTML page and a feed file, events --json. Fails if the wheel installs any top-level name
# but `newswatch`, or if any of the three inputs yields no event (an undeclared dependency of
# the HTML or feed readers, such as lxml_html_clean, shows here: issue 18).
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
cp "$repo/tests/hostile/good-03-page.html" page.html
cp "$repo/tests/hostile/good-04-feed.xml" feed.xml
export NEWSWATCH_DATABASE_URL="sqlite:///$work/wheel.db"
"$work/venv/bin/newswatch" db upgrade
"$work/venv/bin/newswatch" ingest seed.txt page.html --feed feed.xml --published 2021-12-17
"$work/venv/bin/newswatch" events --json > events.jsonl
n=$(grep -c '"type": "DEMAND"' events.jsonl || true)
[ "$n" -ge 1 ] || { echo "check_wheel: no DEMAND event from the seed" >&2; exit 1; }
# each input has its events: the seed (RUS), the page (POL -> DEU) and the feed entry (GRC -> TUR)
"$work/venv/bin/python" - events.jsonl <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
try:
    events = json.loads(text)
except json.JSONDecodeError:
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
pairs = {((e["source"] or {}).get("code"), (e["target"] or {}).get("code")) for e in events}
articles = {m["article"] for e in events for m in e["mentions"]}
missing = [name for name, pair in (("page.html", ("POL", "DEU")), ("feed.xml", ("GRC", "TUR")))
           if pair not in pairs]
if missing or not any(code == "RUS" for code, _ in pairs):
    sys.exit(f"check_wheel: no event from {missing or 'the seed'}; events from {sorted(articles)}")
PY
# the web view from the wheel: its templates, styles and vendored Chart.js are package data
port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$work/venv/bin/newswatch" web --port "$port" 2> web.log &
web_pid=$!
"$work/venv/bin/python" - "$port" <<'PY' || { kill "$web_pid" 2>/dev/null; cat web.log >&2; exit 1; }
import sys, time, httpx
base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(300):
    try:
        page = httpx.get(base + "/events?type=DEMAND", timeout=5)
        break
    except httpx.TransportError:
        time.sleep(0.1)
else:
    sys.exit("check_wheel: newswatch web did not answer")
chart = httpx.get(base + "/static/vendor/chart.umd.min.js", timeout=5)
css = httpx.get(base + "/static/style.css", timeout=5)
if page.status_code != 200 or "deny membership to Ukraine" not in page.text:
    sys.exit(f"check_wheel: the events page did not show the seed's demand ({page.status_code})")
if chart.status_code != 200 or b"Chart.js v4" not in chart.content[:200] or css.status_code != 200:
    sys.exit("check_wheel: the web view's static files are missing from the wheel")
PY
kill "$web_pid"; wait "$web_pid" 2>/dev/null || true
echo "check_wheel: ok ($n demands; events from the seed, the HTML page and the feed; the web view serves them; installed from the wheel outside the checkout)"
