#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for a bounded time, one after the other, and exits
# non-zero when any of them crashed (a panic, a failed property, a timeout or an
# out-of-memory). Usage:
#   scripts/fuzz.sh                      # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh config_plan template
# Settings (environment):
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_SANITIZER  address (default) or none: without AddressSanitizer, 3-4 times the
#                   executions per second, but unsafe code in dependencies (yaml_serde's
#                   libyaml is transpiled C) is then unchecked
#   FUZZ_TIMEOUT    seconds one input may take before it counts as a crash (default 10)
# Targets: config_plan (config text -> Config::parse -> Plan::try_from -> arrivals, request
# rendering), template (Template::parse + render, escapes), json_path (JSONPath checks and
# extraction on arbitrary JSON), metrics_page (the Prometheus memory source's pick_series).
# The harnesses are fuzz/src/lib.rs; tests/fuzz_regressions.rs replays every crash found.
#
# cargo-fuzz needs nightly compiler flags (-Zsanitizer, sanitizer coverage); on the stable
# toolchain this script sets RUSTC_BOOTSTRAP=1, which lets stable rustc accept them. It
# installs cargo-fuzz when missing. Builds go to fuzz/target, the corpus grows in
# fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET, and config_plan also from config/ and
# tests/testdata/invalid/), crashes land in fuzz/artifacts/TARGET/ and logs in
# fuzz/target/fuzz-logs/; all of them are git-ignored. A crash is replayed with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-...
# and, once minimized (cargo fuzz tmin), becomes a #[test] in tests/fuzz_regressions.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-address}
timeout=${FUZZ_TIMEOUT:-10}
all_targets=(config_plan template json_path metrics_page)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

export RUSTC_BOOTSTRAP=1
# Keep cargo-fuzz off any target dir set for the main package.
unset CARGO_TARGET_DIR
if ! command -v cargo-fuzz >/dev/null; then
  echo "--- installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

fuzz_args=(--fuzz-dir fuzz --target-dir fuzz/target --sanitizer "$sanitizer")
echo "--- building the fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build "${fuzz_args[@]}"

logs=fuzz/target/fuzz-logs
mkdir -p "$logs"
failed=()
summary=()
for target in "${targets[@]}"; do
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus"
  inputs=("$corpus" "fuzz/seeds/$target")
  if [ "$target" = config_plan ]; then inputs+=(config tests/testdata/invalid); fi
  existing=()
  for dir in "${inputs[@]}"; do [ -d "$dir" ] && existing+=("$dir"); done
  options=(-max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1)
  [ -f "fuzz/dict/$target.dict" ] && options+=(-dict="fuzz/dict/$target.dict")
  log=$logs/$target.log
  echo "--- fuzzing $target for ${seconds}s (log: $log)"
  if cargo fuzz run "${fuzz_args[@]}" "$target" "${existing[@]}" -- "${options[@]}" >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    failed+=("$target")
    grep -E "panicked at|^SUMMARY|ERROR: libFuzzer|Test unit written to" "$log" | head -n 8 || true
  fi
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  final=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)
  summary+=("$(printf '%-13s %-5s executions: %-9s %s' "$target" "$status" "${executions:-?}" "$final")")
done

echo "--- summary (${seconds}s per target, sanitizer: $sanitizer)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]}; inputs in fuzz/artifacts/, logs in $logs/" >&2
  exit 1
fi
