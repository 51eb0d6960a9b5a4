#!/usr/bin/env bash
# Browser check of the status page in headless Chromium (Debian `chromium`, installed when
# missing): runs loadprobe on the demo config (free loopback ports), waits until the chart
# history has 3 samples per probe (about 15 s), saves a screenshot of the page to
# target/page-screenshot.png, and checks the DOM after the page's script ran: every probe
# has its three charts and every chart drew at least one line of several points.
# Usage: page-check.sh [BINARY] [PYTHON]   (defaults: $LOADPROBE_BIN or
# target/debug/loadprobe, and python3)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-${LOADPROBE_BIN:-target/debug/loadprobe}}
python=${2:-python3}
screenshot=target/page-screenshot.png

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v chromium >/dev/null; then
  echo "--- installing Debian chromium"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

work=$(mktemp -d)
pid=
cleanup() {
  status=$?
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "$status" -ne 0 ]; then
    echo "--- loadprobe log (last 20 lines)"; tail -n 20 "$work/loadprobe.log" 2>/dev/null || true
    echo "--- chromium log (last 20 lines)"; tail -n 20 "$work/chromium.log" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
demo_port=$(free_port) web_port=$(free_port)
url="http://127.0.0.1:$web_port/"

# The demo config with its ports moved (10181: demo target, 10180: loadprobe).
sed -e "s/10181/$demo_port/g" -e "s/10180/$web_port/g" config/loadprobe.yml > "$work/loadprobe.yml"
"$binary" --config.file="$work/loadprobe.yml" --web.listen-address="127.0.0.1:$web_port" \
  --log.level=warn 2>"$work/loadprobe.log" &
pid=$!

echo "waiting for 3 chart samples per probe (one every 5 s)"
"$python" - "$url" <<'PY'
import json, sys, time, urllib.request
url = sys.argv[1]
deadline = time.time() + 60
while True:
    try:
        history = json.load(urllib.request.urlopen(url + "api/v1/history", timeout=5))
        counts = [len(p["samples"]) for p in history["probes"]]
        if counts and min(counts) >= 3:
            break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit("history did not reach 3 samples per probe within 60 s")
    time.sleep(0.5)
PY

browser() { # browser FLAGS... -> runs headless Chromium on the page with a fresh profile
  profile=$(mktemp -d -p "$work")
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=8000 "$@" "$url" 2>>"$work/chromium.log"
}
mkdir -p target
rm -f "$screenshot"
browser --window-size=1400,1000 --screenshot="$PWD/$screenshot" >/dev/null
[ -s "$screenshot" ] || { echo "no screenshot was written"; exit 1; }
echo "screenshot: $screenshot"
browser --dump-dom > "$work/dom.html"

"$python" - "$work/dom.html" "$url" <<'PY'
import json, sys, urllib.request
from html.parser import HTMLParser

class Charts(HTMLParser):
    """Collects, per probe and chart, the point counts of the lines drawn in its SVG."""
    def __init__(self):
        super().__init__()
        self.probe = self.chart = None
        self.lines = {}
        self.refreshed = ""
        self.in_refreshed = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and "charts" in (a.get("class") or "").split():
            self.probe = a.get("data-probe")
        elif tag == "figure" and "data-chart" in a:
            self.chart = a["data-chart"]
            self.lines[(self.probe, self.chart)] = []
        elif tag in ("polyline", "path") and self.chart:
            points = a.get("points") or a.get("d") or ""
            self.lines[(self.probe, self.chart)].append(len(points.replace(",", " ").split()) // 2)
        elif a.get("id") == "refreshed":
            self.in_refreshed = True
    def handle_endtag(self, tag):
        if tag == "figure":
            self.chart = None
        self.in_refreshed = False
    def handle_data(self, data):
        if self.in_refreshed:
            self.refreshed += data

dom, url = sys.argv[1], sys.argv[2]
parser = Charts()
parser.feed(open(dom, encoding="utf-8").read())
probes = [p["name"] for p in json.load(urllib.request.urlopen(url + "api/v1/history", timeout=5))["probes"]]
problems = []
for probe in probes:
    for chart in ("rate", "latency", "ratios"):
        lines = parser.lines.get((probe, chart))
        if lines is None:
            problems.append(f"{probe}: no {chart} chart")
        elif not any(n >= 2 for n in lines):
            problems.append(f"{probe}: {chart} chart drew no line ({lines})")
if not parser.refreshed.startswith("updated"):
    problems.append(f"the page's script did not report a refresh: {parser.refreshed!r}")
if problems:
    sys.exit("status page check failed:\n  " + "\n  ".join(problems))
total = sum(len(v) for v in parser.lines.values())
print(f"status page: {len(probes)} probes x 3 charts drawn ({total} lines) in headless Chromium")
PY
