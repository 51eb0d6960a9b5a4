#!/usr/bin/env bash
# Runs the shipped demo config (on free ports) for a few seconds and checks a real scrape:
# Prometheus text with `promtool check metrics` (no finding allowed), OpenMetrics text with
# the reference parser of prometheus-client. Usage: check-scrape.sh BINARY PYTHON
set -euo pipefail
binary=$1 python=$2
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
demo_port=$(free_port) web_port=$(free_port)
sed "s/10181/$demo_port/g" config/loadprobe.yml > "$work/loadprobe.yml"
"$binary" --config.file="$work/loadprobe.yml" --web.listen-address="127.0.0.1:$web_port" --log.level=warn &
pid=$!

fetch() { # fetch PATH ACCEPT -> stdout
  "$python" - "$web_port" "$1" "$2" <<'PY'
import sys, urllib.request
port, path, accept = sys.argv[1:4]
req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": accept})
sys.stdout.write(urllib.request.urlopen(req, timeout=5).read().decode())
PY
}
for _ in $(seq 50); do fetch /-/ready '*/*' >/dev/null 2>&1 && break; sleep 0.1; done
sleep 3   # let every demo probe produce traffic, 429s and failures

fetch /metrics 'text/plain' > "$work/prometheus.txt"
grep -q 'loadprobe_responses_total{probe="pool",step="request",code="429"}' "$work/prometheus.txt" \
  || { echo "expected 429s from the demo pool in the scrape"; exit 1; }
findings=$(promtool check metrics < "$work/prometheus.txt" 2>&1) || { echo "$findings"; exit 1; }
[ -z "$findings" ] || { echo "promtool findings:"; echo "$findings"; exit 1; }
echo "promtool check metrics: no findings ($(grep -vc '^#' "$work/prometheus.txt") samples)"

fetch /metrics 'application/openmetrics-text;version=1.0.0' > "$work/openmetrics.txt"
"$python" - "$work/openmetrics.txt" <<'PY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(open(sys.argv[1]).read()))
names = {f.name for f in families}
for required in ["loadprobe_requests", "loadprobe_request_duration_seconds", "process_cpu_seconds", "loadprobe_build"]:
    assert required in names, f"{required} missing from the OpenMetrics scrape"
print(f"OpenMetrics parser: {len(families)} families parsed")
PY
kill -TERM "$pid"
wait "$pid"
echo "loadprobe exited 0 on SIGTERM"
