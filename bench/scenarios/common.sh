# shellcheck shell=bash
# bench/scenarios/common.sh — what the fixed, closed, truth and footprint scenarios share
# (sourced by bench/run.sh after its own helpers: launch, sample_rss, LEG_PIDS, nginx).
#
# Every leg (one run of one tool) is a directory $TMP/<scenario>/<rep>-<seq>-<tool> with:
#   leg.txt     key=value: scenario, tool, rep, rate, duration, cmd, rc, nginx counts, notes
#   time.txt    user_s sys_s maxrss_kB wall_s of the generator (bench/rusage.py: /usr/bin/time's %U %S %M %e, in µs)
#   stdout, stderr, rss_max_kb, rss_max_kb.series   (the tool's output, VmRSS at 1 Hz)
# bench/report.py reads them.

# Sets BINARY_COMMIT: what was measured (the commit when the binary was resolved, and
# whether src/ had uncommitted changes), as soak.sh does. With LOADPROBE_BIN (a copy, so
# that someone's build during the run cannot swap the binary), LOADPROBE_COMMIT says which.
record_binary() {
  BINARY_COMMIT="–"
  [[ -n ${LOADPROBE:-} ]] || return 0
  if [[ -n ${LOADPROBE_BIN:-} ]]; then
    BINARY_COMMIT="${LOADPROBE_COMMIT:-?} (binary given by LOADPROBE_BIN: $LOADPROBE_BIN)"
    return 0
  fi
  BINARY_COMMIT=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo none)
  if [[ -n $(git -C "$REPO_DIR" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    BINARY_COMMIT="$BINARY_COMMIT + uncommitted changes in src/"
  fi
  if [[ ${SKIP_BUILD:-0} == 1 ]]; then
    BINARY_COMMIT="$BINARY_COMMIT (SKIP_BUILD=1: target/release/loadprobe built $(date -u -r "$LOADPROBE" '+%Y-%m-%d %H:%M UTC'))"
  fi
}

# begin_leg SCENARIO TOOL REP [key=value ...]: a new leg directory in LEG, its leg.txt, and
# nginx's line count and CPU before it.
begin_leg() {
  local scen=$1 tool=$2 rep=$3 kv
  shift 3
  LEG_SEQ=$((LEG_SEQ + 1))
  LEG=$TMP/$scen/$(printf '%02d-%03d' "$rep" "$LEG_SEQ")-$tool
  mkdir -p "$LEG"
  {
    echo "scenario=$scen"
    echo "tool=$tool"
    echo "rep=$rep"
    for kv in "$@"; do echo "$kv"; done
    echo "loadavg_start=$(cut -d' ' -f1 /proc/loadavg)"
  } > "$LEG/leg.txt"
  LEG_NGINX_BEFORE=$(log_lines)
  LEG_NGINX_CPU0=$(nginx_cpu)
}

# end_leg RC: nginx's count of this leg's requests (GET /ok, and how many were not 200),
# its CPU, the return code; counts a failure.
end_leg() {
  local rc=$1 counts cpu1
  # shellcheck disable=SC2034  # run.sh's cleanup reads it
  LEG_PIDS=()
  sleep 0.5   # nginx writes the log line after the response: let the last ones land
  cpu1=$(nginx_cpu)
  counts=$(awk -v from="$LEG_NGINX_BEFORE" 'NR > from && $2 == "/ok" { n++; if ($3 != "200") e++ }
                                            END { print n + 0, e + 0 }' "$ACCESS_LOG")
  {
    echo "rc=$rc"
    echo "nginx_lines=${counts% *}"
    echo "nginx_non200=${counts#* }"
    echo "nginx_cpu_s=$(python3 -c "print(round($cpu1 - $LEG_NGINX_CPU0, 2))")"
    echo "loadavg_end=$(cut -d' ' -f1 /proc/loadavg)"
  } >> "$LEG/leg.txt"
  if ((rc != 0)); then
    FAILED=$((FAILED + 1))
    log "  leg $(basename "$LEG") failed (rc=$rc); stderr tail:"
    tail -n 5 "$LEG/stderr" >&2 || true
  fi
  log "  nginx logged ${counts% *} requests; time (user sys maxrss_kB wall): $(tail -n1 "$LEG/time.txt" 2>/dev/null || echo '?')"
}

leg_note() { echo "note=$*" >> "$LEG/leg.txt"; }
leg_cmd() { echo "cmd=$*" >> "$LEG/leg.txt"; }

# lp_once CONFIG DURATION_S: `loadprobe once` on CPU GEN_CPU under bench/rusage.py, JSON
# summary on stdout. Exit 1 of `once` is a verdict (no SLO: any failed request fails the
# run), not a failed leg, when the JSON summary is there.
lp_once() {
  local cfg=$1 dur=$2 rc=0
  # shellcheck disable=SC2086  # LOADPROBE_EXTRA_ARGS is a list of flags
  launch "$LEG" "$LOADPROBE" once --config.file="$cfg" --probe=bench --duration="${dur}s" \
    --output json --log.level=warn $LOADPROBE_EXTRA_ARGS
  leg_cmd "loadprobe once --config.file=loadprobe.yml --probe=bench --duration=${dur}s --output json --log.level=warn${LOADPROBE_EXTRA_ARGS:+ $LOADPROBE_EXTRA_ARGS}"
  wait "$TIME_PID" || rc=$?
  if ((rc == 1)) && python3 -c 'import json, sys; json.load(open(sys.argv[1]))["report"]' "$LEG/stdout" 2>/dev/null; then
    leg_note "loadprobe once exited 1: the run's verdict failed (see the counts)"
    rc=0
  fi
  return "$rc"
}

# The oha command of a leg: oha_cmd DURATION_S CONNS RATE|- URL [extra flags...]
oha_cmd() {
  local dur=$1 conns=$2 rate=$3 url=$4
  shift 4
  OHA=(oha -z "${dur}s")
  [[ $rate == - ]] || OHA+=(-q "$rate")
  OHA+=(-c "$conns" --worker-threads 1 --no-tui --output-format json "$@" "$url")
}

# Writes $1 (markdown) with what every scenario's report shows under "Setup".
write_setup_md() {
  local out=$1 lp_version="–"
  if [[ -n $LOADPROBE ]]; then
    lp_version=$(timeout 5 "$LOADPROBE" --version 2>/dev/null | head -n1 || true)
  fi
  {
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC') (run started $STAMP)"
    echo "- loadprobe binary: ${lp_version:-?}, commit $BINARY_COMMIT, release build; flags: defaults${LOADPROBE_EXTRA_ARGS:+ + $LOADPROBE_EXTRA_ARGS} (pinned to one CPU, so a one-thread runtime)"
    echo "- machine: $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- nginx $(nginx -v 2>&1 | sed 's/.*\///'), 1 worker on CPU $TARGET_CPU, static file /ok; generators on CPU $GEN_CPU"
    echo "- oha $(oha --version 2>/dev/null | awk '{print $2}'); hey $(dpkg-query -W -f '${Version}' hey 2>/dev/null || echo –) (Debian); wrk $(dpkg-query -W -f '${Version}' wrk 2>/dev/null || echo –) (Debian); Python $(python3 -c 'import platform; print(platform.python_version())')"
    echo "- load average at the start of the run: $LOADAVG_START; now: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- every generator as \`taskset -c $GEN_CPU python3 bench/rusage.py -o time.txt -- CMD\` (what \`/usr/bin/time -f '%U %S %M'\` measures, with µs instead of 10 ms); REPEATS=$REPEATS, tools interleaved within each rate"
  } > "$out"
}

# scenario_report NAME: bench/report.py NAME → results/NAME-STAMP.md and .json.
scenario_report() {
  local name=$1
  mkdir -p "$RESULTS_DIR"
  write_setup_md "$TMP/setup-$name.md"
  echo
  python3 "$BENCH_DIR/report.py" "$name" --legs "$TMP/$name" --setup "$TMP/setup-$name.md" \
    --out "$RESULTS_DIR/$name-$STAMP.md" --json "$RESULTS_DIR/$name-$STAMP.json" ||
    { FAILED=$((FAILED + 1)); log "report of $name failed"; return 0; }
  echo
  log "written $RESULTS_DIR/$name-$STAMP.md"
}

# After `all`: the chart, the tables of docs/performance.md, the ratios and the goals.
finish_all() {
  local j=$RESULTS_DIR
  python3 "$BENCH_DIR/report.py" doc \
    --fixed "$j/fixed-$STAMP.json" --closed "$j/closed-$STAMP.json" \
    --truth "$j/truth-$STAMP.json" --footprint "$j/footprint-$STAMP.json" \
    --chart "$CHART" --doc "$DOC" --out "$RESULTS_DIR/all-$STAMP.md" ||
    { FAILED=$((FAILED + 1)); log "the summary of all failed"; return 0; }
  log "written $CHART, $DOC (tables) and $RESULTS_DIR/all-$STAMP.md"
}
