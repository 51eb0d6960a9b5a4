#!/usr/bin/env bash
# bench/run.sh — loadprobe's benchmark suite, one entry point.
#
#   bench/run.sh [core]     # one fixed rate (RATE) for loadprobe, oha, hey (the default)
#   bench/run.sh fixed      # fixed rates 10 100 1000 5000 20000/s: rate, CPU, RSS, p50/p99
#   bench/run.sh closed     # closed-loop maximum, 32 connections: loadprobe, wrk, oha
#   bench/run.sh truth      # a server that stalls 1 s every 5 s: reported vs true percentiles
#   bench/run.sh footprint  # loadprobe's memory idle / demo / 20000/s, /metrics of 100x3
#   bench/run.sh all        # the four above, then the chart, the ratios and the tables of
#                           # docs/performance.md
#
# Method (same as shared reference/anchor-figures.md, so figures are comparable):
#   - target = our own nginx, 1 worker pinned to CPU $TARGET_CPU, serving a static file
#     (truth: bench/stall_server.py, pinned to the same CPU);
#   - every generator pinned to CPU $GEN_CPU with taskset and wrapped in bench/rusage.py
#     (/usr/bin/time with microseconds), so CPU = user+sys of the whole generator process
#     and peak RSS = its max RSS;
#   - ground truth = nginx's access log (one line per request), never the tool's own count;
#   - tools interleaved (loadprobe, oha, hey, loadprobe, ...) so drift of the machine
#     hits every tool alike; median (min–max) per figure.
#
# Environment (defaults in brackets):
#   REPEATS [3] runs of every leg · TOOLS ["loadprobe oha hey"] (core, fixed: subset/order)
#   LOADPROBE_BIN                 use this binary, do not build (missing file = skip the leg)
#   SKIP_BUILD=1                  do not build; use target/release/loadprobe if it exists
#   LOADPROBE_EXTRA_ARGS          extra flags for loadprobe (e.g. --runtime.worker-threads=1)
#   MAX_IN_FLIGHT [64] · OHA_CONNS [64] · HEY_WORKERS [50]
#   GEN_CPU [0] · TARGET_CPU [1] · PAUSE [2] seconds between legs
#   RESULTS_DIR [bench/results] · KEEP_TMP=1 keeps the temp dir (configs, logs, scrapes)
#   core:      RATE [1000] arrivals/s · DURATION [30] s
#   fixed:     FIXED_RATES ["10 100 1000 5000 20000"] · FIXED_DURATION [20] s ·
#              FIXED_DURATION_LOW [60] s for rates of 10/s and below · FIXED_MAX_IN_FLIGHT
#              [2000] (loadprobe: room for a 100 ms stall at 20 000/s; its connections are
#              bounded to OHA_CONNS, as oha's are) · SHAPE_TOOLS ["hey_even loadprobe_bursts"]
#              also run at rates up to SHAPE_MAX_RATE [1000]: each arrival shape sent by both
#              (hey -c 1, evenly spaced; loadprobe in bursts of HEY_WORKERS, as hey -c 50 sends)
#   closed:    CLOSED_DURATION [10] s · CLOSED_CONNS [32] · CLOSED_RATE [200000] (loadprobe's
#              rate, above what one core can do) · CLOSED_TOOLS ["loadprobe wrk oha"]
#   truth:     TRUTH_RATES ["200 1000"] · TRUTH_DURATION [20] s ·
#              TRUTH_TOOLS ["loadprobe oha oha_corr hey wrk"] (wrk, closed loop: first rate only)
#              · TRUTH_MAX_IN_FLIGHT [2000] (loadprobe: room for a 1 s stall at 1000/s)
#   footprint: FOOT_IDLE [10] s · FOOT_DEMO [20] s · FOOT_LOAD [30] s at FOOT_LOAD_RATE [20000] ·
#              FOOT_PROBES [100] probes x 3 steps · FOOT_SCRAPES [30] scrapes of /metrics
#   DOC [docs/performance.md] · CHART [docs/performance-cpu.svg] (all: written by the run)
#
# Quick smoke runs:  RATE=200 DURATION=5 REPEATS=1 bench/run.sh
#                    FIXED_RATES="100 1000" FIXED_DURATION=3 REPEATS=1 bench/run.sh fixed
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH_DIR
REPO_DIR=$(dirname "$BENCH_DIR")
SCENARIO=${1:-core}

RATE=${RATE:-1000}
DURATION=${DURATION:-30}
REPEATS=${REPEATS:-3}
TOOLS=${TOOLS:-"loadprobe oha hey"}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-64}
OHA_CONNS=${OHA_CONNS:-64}
HEY_WORKERS=${HEY_WORKERS:-50}
GEN_CPU=${GEN_CPU:-0}
TARGET_CPU=${TARGET_CPU:-1}
PAUSE=${PAUSE:-2}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
LOADPROBE_EXTRA_ARGS=${LOADPROBE_EXTRA_ARGS:-}
DRAIN_TIMEOUT=5   # seconds; written into loadprobe's config as global.drain_timeout

FIXED_RATES=${FIXED_RATES:-"10 100 1000 5000 20000"}
FIXED_DURATION=${FIXED_DURATION:-20}
FIXED_DURATION_LOW=${FIXED_DURATION_LOW:-60}
FIXED_MAX_IN_FLIGHT=${FIXED_MAX_IN_FLIGHT:-2000}
SHAPE_TOOLS=${SHAPE_TOOLS-"hey_even loadprobe_bursts"}
SHAPE_MAX_RATE=${SHAPE_MAX_RATE:-1000}
CLOSED_DURATION=${CLOSED_DURATION:-10}
CLOSED_CONNS=${CLOSED_CONNS:-32}
CLOSED_RATE=${CLOSED_RATE:-200000}
CLOSED_TOOLS=${CLOSED_TOOLS:-"loadprobe wrk oha"}
TRUTH_RATES=${TRUTH_RATES:-"200 1000"}
TRUTH_DURATION=${TRUTH_DURATION:-20}
TRUTH_TOOLS=${TRUTH_TOOLS:-"loadprobe oha oha_corr hey wrk"}
TRUTH_MAX_IN_FLIGHT=${TRUTH_MAX_IN_FLIGHT:-2000}
FOOT_IDLE=${FOOT_IDLE:-10}
FOOT_DEMO=${FOOT_DEMO:-20}
FOOT_LOAD=${FOOT_LOAD:-30}
FOOT_LOAD_RATE=${FOOT_LOAD_RATE:-20000}
FOOT_PROBES=${FOOT_PROBES:-100}
FOOT_SCRAPES=${FOOT_SCRAPES:-30}
DOC=${DOC:-$REPO_DIR/docs/performance.md}
CHART=${CHART:-$REPO_DIR/docs/performance-cpu.svg}

# The interpreter itself, not a version manager's shim (pyenv's is a bash script that forks):
# the pid of a tool launched under bench/rusage.py must be the wrapper's one child.
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

# cargo install puts oha here; a fresh shell may not have it on PATH.
export PATH="$HOME/.cargo/bin:$PATH"

LOG_TAG=bench
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"   # log, die, nginx, loadprobe binary and config, tool_pid

case "$SCENARIO" in
  core|fixed|closed|truth|footprint|all) ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown scenario '$SCENARIO' (known: core fixed closed truth footprint all)" ;;
esac
[[ $RATE =~ ^[0-9]+$ && $RATE -gt 0 ]] || die "RATE must be a positive integer (arrivals/s), got '$RATE'"
[[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || die "DURATION must be whole seconds, got '$DURATION'"
[[ $REPEATS =~ ^[0-9]+$ && $REPEATS -gt 0 ]] || die "REPEATS must be a positive integer, got '$REPEATS'"

# ---------------------------------------------------------------- tools

ensure_tools() {
  # Debian packages: nginx (target), hey (comparison), wrk (kept for closed-loop
  # comparisons), GNU time (CPU + peak RSS; bash's `time` builtin has no RSS).
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx)
  command -v hey >/dev/null || missing+=(hey)
  command -v wrk >/dev/null || missing+=(wrk)
  [[ -x /usr/bin/time ]] || missing+=(time)
  if ((${#missing[@]})); then
    log "missing: ${missing[*]} -> apt-get install nginx-light wrk hey time"
    [[ $(id -u) -eq 0 ]] || die "need root to apt-get install; install nginx-light wrk hey time yourself"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light wrk hey time
  fi
  for t in taskset curl python3; do
    command -v "$t" >/dev/null || die "$t is required (util-linux, curl, python3)"
  done
  if [[ " $TOOLS " == *" oha "* ]] && ! command -v oha >/dev/null; then
    log "oha not found -> cargo install oha --locked (a few minutes)"
    cargo install oha --locked
  fi
}

# Resolves LOADPROBE (path to the binary) or leaves it empty when the leg must be skipped.
resolve_loadprobe() {
  LOADPROBE=""
  [[ " $TOOLS " == *" loadprobe "* ]] || return 0
  resolve_loadprobe_bin
  [[ -n $LOADPROBE ]] || log "no loadprobe binary: skipping the loadprobe legs"
}

# ---------------------------------------------------------------- temp dir + cleanup

TMP=$(mktemp -d /tmp/loadprobe-bench.XXXXXX)
NGINX_PID=""
LEG_PIDS=()   # pids (time wrapper, rss sampler) of the leg in progress
BG_PIDS=()    # servers of the leg in progress (truth: the stall server)

cleanup() {
  local rc=$?
  for p in "${LEG_PIDS[@]}" "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_nginx
  if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # so that the EXIT trap runs on Ctrl-C too

# ---------------------------------------------------------------- nginx

# start_nginx, stop_nginx, log_lines, nginx_cpu: bench/lib.sh.

# ---------------------------------------------------------------- one leg

# tool_pid (the tool under bench/rusage.py): bench/lib.sh.

# VmRSS every second while the process lives; keeps the max (kB) in $2. Complements
# time's %M (peak), and shows whether memory was still growing at the end.
# Every sample also goes to $2.series as "seconds-since-start kB" (footprint: flat over time).
sample_rss() {
  local pid=$1 out=$2 v max=0 t0=$SECONDS
  echo 0 > "$out"
  : > "$out.series"
  while [[ -r /proc/$pid/status ]]; do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
    if [[ -n $v ]]; then
      echo "$((SECONDS - t0)) $v" >> "$out.series"
      if ((v > max)); then max=$v; echo "$max" > "$out"; fi
    fi
    sleep 1
  done
}

# launch LEG_DIR cmd...: runs cmd pinned to GEN_CPU under bench/rusage.py in the
# background; sets TIME_PID (the wrapper, to wait on) and TOOL_PID (the tool itself).
launch() {
  local leg=$1; shift
  # taskset outermost: the wrapper and the tool both live on GEN_CPU; -o keeps its figures
  # out of the tool's own stderr. bench/rusage.py writes what `/usr/bin/time -f '%U %S %M %e'`
  # would (user s, sys s, max RSS kB, wall s) but with microseconds: time's 10 ms rounding
  # is too coarse for a generator at 10/s.
  taskset -c "$GEN_CPU" "$PYTHON" "$BENCH_DIR/rusage.py" -o "$leg/time.txt" -- \
    "$@" > "$leg/stdout" 2> "$leg/stderr" &
  TIME_PID=$!
  LEG_PIDS=("$TIME_PID")
  TOOL_PID=$(tool_pid "$TIME_PID") || TOOL_PID=""
  if [[ -n $TOOL_PID ]]; then
    # On Ctrl-C, cleanup must stop the tool itself: killing time would orphan it.
    LEG_PIDS=("$TOOL_PID" "$TIME_PID")
    sample_rss "$TOOL_PID" "$leg/rss_max_kb" &
    LEG_PIDS+=("$!")
  fi
}

# Runs loadprobe for one run, scrapes it when the run is over, stops it with SIGTERM.
# Returns non-zero when loadprobe did not run the whole way.
leg_loadprobe() {
  local leg=$1 port cfg rc=0 waited=0
  port=$(free_port)
  cfg=$leg/loadprobe.yml
  write_loadprobe_config "$cfg" bench 1h "${DURATION}s" "$RATE" "$MAX_IN_FLIGHT" "$DRAIN_TIMEOUT"
  # shellcheck disable=SC2086  # LOADPROBE_EXTRA_ARGS is a list of flags
  launch "$leg" "$LOADPROBE" --config.file="$cfg" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn $LOADPROBE_EXTRA_ARGS
  echo "cmd=loadprobe --config.file=loadprobe.yml --web.listen-address=127.0.0.1:PORT --log.level=warn${LOADPROBE_EXTRA_ARGS:+ $LOADPROBE_EXTRA_ARGS}" >> "$leg/leg.txt"
  # The run starts at boot and lasts DURATION s; give it 2 s more to finish its requests.
  # Sleep in 1 s steps so that a loadprobe that dies at start-up is reported at once.
  local _
  for _ in $(seq $((DURATION + 2))); do
    if [[ -z $TOOL_PID ]] || ! kill -0 "$TOOL_PID" 2>/dev/null; then break; fi
    sleep 1
  done
  # Then scrape until the run is over (run_active 0, nothing in flight), at most drain+5 s.
  while :; do
    if [[ -z $TOOL_PID ]] || ! kill -0 "$TOOL_PID" 2>/dev/null; then
      wait "$TIME_PID" || true
      echo "note=loadprobe exited before the end of its run: $(tail -n 3 "$leg/stderr" | tr '\n' ' ')" >> "$leg/leg.txt"
      return 1
    fi
    if curl -fsS -o "$leg/scrape.tmp" "http://127.0.0.1:$port/metrics"; then
      mv "$leg/scrape.tmp" "$leg/scrape.txt"
      python3 "$BENCH_DIR/summarize.py" scrape-idle "$leg/scrape.txt" && break
    fi
    if ((waited >= (DRAIN_TIMEOUT + 5) * 2)); then
      echo "note=run still active at DURATION+$((DRAIN_TIMEOUT + 7)) s; used the last scrape" >> "$leg/leg.txt"
      break
    fi
    sleep 0.5; waited=$((waited + 1))
  done
  [[ -s $leg/scrape.txt ]] || { echo "note=no scrape of /metrics" >> "$leg/leg.txt"; rc=1; }
  # The last run's exact percentiles (HDR histogram) come from the status API.
  curl -fsS -o "$leg/status.json" "http://127.0.0.1:$port/api/v1/status" || true
  # Graceful stop; loadprobe must exit by itself within drain_timeout (+5 s slack).
  kill -TERM "$TOOL_PID" 2>/dev/null || true
  for _ in $(seq $(((DRAIN_TIMEOUT + 5) * 10))); do
    kill -0 "$TOOL_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$TOOL_PID" 2>/dev/null; then
    echo "note=did not exit within $((DRAIN_TIMEOUT + 5)) s of SIGTERM; killed" >> "$leg/leg.txt"
    kill -KILL "$TOOL_PID" 2>/dev/null || true
    rc=1
  fi
  wait "$TIME_PID" || rc=$?
  return "$rc"
}

leg_oha() {
  local leg=$1 rc=0
  # --worker-threads 1: single-thread setting as in anchor-figures.md (the tool is pinned
  # to one CPU anyway). --no-tui --output-format json: machine-readable summary on stdout
  # (oha 1.16 has no --json). No --latency-correction: oha's default, as users run it.
  local cmd=(oha -z "${DURATION}s" -q "$RATE" -c "$OHA_CONNS" --worker-threads 1 --no-tui --output-format json
             "http://127.0.0.1:$NGINX_PORT/ok")
  echo "cmd=${cmd[*]/#http*/URL}" >> "$leg/leg.txt"
  launch "$leg" "${cmd[@]}"
  wait "$TIME_PID" || rc=$?
  return "$rc"
}

leg_hey() {
  local leg=$1 rc=0 per_worker
  # hey's -q is per worker: RATE/HEY_WORKERS each (a float is fine). GOMAXPROCS=1 is its
  # single-thread setting.
  per_worker=$(python3 -c "print(round($RATE / $HEY_WORKERS, 6))")
  local cmd=(hey -z "${DURATION}s" -q "$per_worker" -c "$HEY_WORKERS" "http://127.0.0.1:$NGINX_PORT/ok")
  echo "cmd=GOMAXPROCS=1 ${cmd[*]/#http*/URL}" >> "$leg/leg.txt"
  launch "$leg" env GOMAXPROCS=1 "${cmd[@]}"
  wait "$TIME_PID" || rc=$?
  return "$rc"
}

# run_leg TOOL REP: one run of one tool, with nginx's count and CPU around it.
run_leg() {
  local tool=$1 rep=$2 leg rc=0 before cpu0 cpu1 counts
  leg=$TMP/legs/$(printf '%02d-%02d' "$rep" "$LEG_SEQ")-$tool
  LEG_SEQ=$((LEG_SEQ + 1))
  mkdir -p "$leg"
  printf 'tool=%s\nrep=%s\n' "$tool" "$rep" > "$leg/leg.txt"
  if [[ $tool == loadprobe && -z $LOADPROBE ]]; then
    log "run $rep: loadprobe skipped (no binary)"
    rm -rf "$leg"; return 0
  fi
  log "run $rep/$REPEATS: $tool at $RATE/s for $DURATION s"
  before=$(log_lines)
  cpu0=$(nginx_cpu)
  "leg_$tool" "$leg" || rc=$?
  LEG_PIDS=()
  sleep 0.5   # nginx writes the log line after the response: let the last ones land
  cpu1=$(nginx_cpu)
  # Only this leg's lines: GET /ok, and how many of them were not 200.
  counts=$(awk -v from="$before" 'NR > from && $2 == "/ok" { n++; if ($3 != "200") e++ }
                                  END { print n + 0, e + 0 }' "$ACCESS_LOG")
  {
    echo "rc=$rc"
    echo "nginx_lines=${counts% *}"
    echo "nginx_non200=${counts#* }"
    echo "nginx_cpu_s=$(python3 -c "print(round($cpu1 - $cpu0, 2))")"
  } >> "$leg/leg.txt"
  if ((rc != 0)); then
    FAILED=$((FAILED + 1))
    log "  $tool failed (rc=$rc); stderr tail:"; tail -n 5 "$leg/stderr" >&2 || true
  fi
  log "  nginx logged ${counts% *} requests; time: $(tail -n1 "$leg/time.txt" 2>/dev/null || echo '?')"
}

write_meta() {
  local lp_version="–"
  if [[ -n $LOADPROBE ]]; then
    lp_version=$(timeout 5 "$LOADPROBE" --version 2>/dev/null | head -n1 || true)
    [[ -n $lp_version ]] || lp_version="(no --version)"
  fi
  {
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit: $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo none)$([[ -n $(git -C "$REPO_DIR" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] && echo " + uncommitted changes in src/")"
    echo "- machine: $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
    echo "- nginx $(nginx -v 2>&1 | sed 's/.*\///'), 1 worker on CPU $TARGET_CPU, static file /ok; generators on CPU $GEN_CPU"
    echo "- loadprobe: $lp_version; oha: $(oha --version 2>/dev/null | head -n1 || echo –); hey: $(dpkg-query -W -f '${Version}' hey 2>/dev/null || echo –)"
    echo "- plan: $RATE arrivals/s for $DURATION s = $((RATE * DURATION)) requests per leg; $REPEATS run(s) per tool, interleaved"
    echo "- commands (URL = http://127.0.0.1:PORT/ok), each as \`taskset -c $GEN_CPU python3 bench/rusage.py -o time.txt -- CMD\` (/usr/bin/time's %U %S %M %e, in µs):"
    local f
    for f in "$TMP"/legs/01-*/leg.txt; do
      if [[ -f $f ]]; then sed -n 's/^cmd=/  - `/p' "$f" | sed 's/$/`/'; fi
    done
    if [[ -n $LOADPROBE ]]; then
      echo "- loadprobe config (PORT = nginx's):"
      echo '```yaml'
      sed "s/127.0.0.1:$NGINX_PORT/127.0.0.1:PORT/" "$TMP"/legs/01-*-loadprobe/loadprobe.yml 2>/dev/null | head -n 20
      echo '```'
    fi
  } > "$TMP/meta.md"
}

# ---------------------------------------------------------------- scenarios

scenario_core() {
  LEG_SEQ=0
  mkdir -p "$TMP/legs"
  local rep tool
  for rep in $(seq "$REPEATS"); do
    LEG_SEQ=0
    for tool in $TOOLS; do
      case $tool in loadprobe|oha|hey) ;; *) die "unknown tool '$tool' in TOOLS" ;; esac
      run_leg "$tool" "$rep"
      sleep "$PAUSE"   # let connections close (TIME_WAIT) before the next tool
    done
  done

  write_meta
  mkdir -p "$RESULTS_DIR"
  local out=$RESULTS_DIR/core-$STAMP.md
  echo
  python3 "$BENCH_DIR/summarize.py" report --legs "$TMP/legs" --rate "$RATE" \
    --duration "$DURATION" --meta "$TMP/meta.md" --out "$out"
  echo
  log "written $out"
}

# fixed, closed, truth, footprint: bench/scenarios/*.sh (helpers in bench/scenarios/common.sh).
# shellcheck source=bench/scenarios/common.sh
source "$BENCH_DIR/scenarios/common.sh"
for _s in fixed closed truth footprint; do
  # shellcheck disable=SC1090
  source "$BENCH_DIR/scenarios/$_s.sh"
done

# ---------------------------------------------------------------- main

STAMP=$(date -u +%Y-%m-%d-%H%M%S)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
ensure_tools
resolve_loadprobe
record_binary
start_nginx

LEG_SEQ=0
FAILED=0
case $SCENARIO in
  core) scenario_core ;;
  all)
    for _s in fixed closed truth footprint; do "scenario_$_s"; done
    finish_all
    ;;
  *) "scenario_$SCENARIO" ;;
esac
((FAILED == 0)) || die "$FAILED leg(s) failed"
