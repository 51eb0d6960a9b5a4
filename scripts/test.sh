#!/usr/bin/env bash
# Installs what the tests need and runs them all: formatting, lints, unit and end-to-end
# tests, then checks a real scrape with promtool (Debian `prometheus`) and with the
# reference OpenMetrics parser (PyPI `prometheus-client`, in a venv under target/); the
# OTLP traces test decodes what loadprobe exports with PyPI `opentelemetry-proto` (same venv).
# Works on a fresh Debian machine with the Rust toolchain; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v promtool >/dev/null; then
  echo "--- installing Debian prometheus (promtool)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  # The package starts a Prometheus server; the tests need only promtool.
  as_root systemctl stop prometheus 2>/dev/null || as_root pkill -x prometheus 2>/dev/null || true
fi
if ! command -v nginx >/dev/null; then
  echo "--- installing Debian nginx-light (replay end-to-end target)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  # The package may start a system nginx on port 80; the test runs its own.
  as_root systemctl stop nginx 2>/dev/null || true
fi
venv=target/test-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Each package is checked on its own, so a venv made by another script still gets it.
if ! "$venv/bin/python" -c 'import prometheus_client' 2>/dev/null; then
  echo "--- installing prometheus-client (OpenMetrics reference parser) into $venv"
  "$venv/bin/pip" install -q prometheus-client==0.21.1
fi
if ! "$venv/bin/python" -c 'import opentelemetry.proto' 2>/dev/null; then
  echo "--- installing opentelemetry-proto (OTLP receiver of tests/otlp.rs) into $venv"
  "$venv/bin/pip" install -q opentelemetry-proto==1.45.2
fi

echo "--- cargo fmt --check"
cargo fmt --all -- --check
echo "--- cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "--- cargo test"
cargo test --locked
echo "--- release build, as the Dockerfile builds it (no Docker engine here to build the image)"
cargo build --release --locked --bin loadprobe
target/release/loadprobe --version
target/release/loadprobe --config.check --config.file=config/loadprobe.yml

echo "--- scrape of the demo config: promtool check metrics + OpenMetrics parser"
./scripts/check-scrape.sh target/debug/loadprobe "$venv/bin/python"
echo "--- status page in headless Chromium: charts draw, screenshot to target/page-screenshot.png"
./scripts/page-check.sh target/debug/loadprobe "$venv/bin/python"
echo "--- alert rules: promtool check rules + promtool test rules"
promtool check rules alerts/*.yml
promtool test rules alerts/tests/*.yml
echo "--- dashboards and alerts against a real Prometheus scraping the demo config"
./scripts/prometheus-e2e.sh target/debug/loadprobe "$venv/bin/python"
echo "--- access-log replay against a real nginx: its access log compared line by line with the input"
./scripts/replay-nginx.sh target/debug/loadprobe
echo "--- Helm chart: lint, render, Kubernetes schemas, config check of every rendering"
./scripts/helm-check.sh target/debug/loadprobe
echo "--- all tests passed"
