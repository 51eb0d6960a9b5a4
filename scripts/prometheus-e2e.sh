#!/usr/bin/env bash
# End-to-end check of dashboards/ and alerts/ against a real Prometheus (Debian package
# `prometheus`): runs loadprobe on the demo config (free loopback ports), has Prometheus
# scrape it every second with alerts/ loaded (rules evaluated every second), then checks
# with scripts/prometheus_e2e.py that every PromQL expression of dashboards/ and alerts/
# parses and returns data, and that raising the demo target's latency makes
# LoadprobeLatencyAboveSLO pending. Takes about a minute.
# Usage: prometheus-e2e.sh [BINARY] [PYTHON]   (defaults: $LOADPROBE_BIN or
# target/debug/loadprobe, and python3; PROMETHEUS overrides /usr/bin/prometheus)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-${LOADPROBE_BIN:-target/debug/loadprobe}}
python=${2:-python3}
prometheus=${PROMETHEUS:-$(command -v prometheus || echo /usr/bin/prometheus)}
started=$(date +%s)

work=$(mktemp -d)
pids=()
cleanup() {
  status=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    echo "--- loadprobe log (last 20 lines)"; tail -n 20 "$work/loadprobe.log" 2>/dev/null || true
    echo "--- prometheus log (last 20 lines)"; tail -n 20 "$work/prometheus.log" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
demo_port=$(free_port) web_port=$(free_port) prom_port=$(free_port)

# The demo config with its ports moved (10181: demo target, 10180: loadprobe).
sed -e "s/10181/$demo_port/g" -e "s/10180/$web_port/g" config/loadprobe.yml > "$work/loadprobe.yml"
"$binary" --config.check --config.file="$work/loadprobe.yml" >/dev/null
"$binary" --config.file="$work/loadprobe.yml" --web.listen-address="127.0.0.1:$web_port" \
  --log.level=warn 2>"$work/loadprobe.log" &
pids+=($!)

cat > "$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/alerts/*.yml
scrape_configs:
  - job_name: loadprobe
    static_configs:
      - targets: ['127.0.0.1:$web_port']
EOF
promtool check config "$work/prometheus.yml" >/dev/null
"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn 2>"$work/prometheus.log" &
pids+=($!)

"$python" scripts/prometheus_e2e.py --prometheus="http://127.0.0.1:$prom_port" \
  --demo="http://127.0.0.1:$demo_port" --rules alerts/*.yml --dashboards dashboards/*.json
echo "prometheus end-to-end: passed in $(( $(date +%s) - started ))s"
