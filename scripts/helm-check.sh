#!/usr/bin/env bash
# Offline checks of the Helm chart (helm/loadprobe) with the real Helm library: lint, render
# for every ci/*-values.yaml and more on Kubernetes 1.28-1.33, kubernetes-validate on every
# built-in object, structural checks of the Prometheus Operator objects, and the loadprobe
# binary's --config.check on each rendered container's args and ConfigMap. See
# scripts/helm_check.py for the list. No cluster, no helm binary, no network after the
# venv is set up.
# Usage: scripts/helm-check.sh [LOADPROBE_BINARY]   (default target/debug/loadprobe, not built here)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-target/debug/loadprobe}
venv=target/test-venv
# helm-python-sdk bundles Helm's Go library (libhelm_c, Helm v4.2.3 for 0.2.2);
# kubernetes-validate bundles the Kubernetes JSON schemas up to 1.37.
packages=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0)

if [ ! -x "$venv/bin/python" ]; then
  echo "--- creating $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import helm_python, kubernetes_validate' 2>/dev/null; then
  echo "--- installing ${packages[*]} into $venv"
  "$venv/bin/pip" install -q "${packages[@]}"
fi
if [ ! -x "$binary" ]; then
  echo "no loadprobe binary at $binary (build it first: cargo build)" >&2
  exit 1
fi
for link in helm/loadprobe/alerts helm/loadprobe/dashboards helm/loadprobe/files/loadprobe.yml; do
  [ -e "$link" ] || { echo "$link does not resolve ($(readlink "$link")): the chart cannot load" >&2; exit 1; }
done

# Helm's loader logs each symlink it follows (alerts/, dashboards/, files/loadprobe.yml) on
# stderr; that is expected, so keep those lines out of the output.
"$venv/bin/python" scripts/helm_check.py "$binary" 2> >(grep -v 'found symbolic link in path' >&2)
