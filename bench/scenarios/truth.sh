# shellcheck shell=bash
# bench/scenarios/truth.sh — `bench/run.sh truth`: are the reported percentiles true when
# the target stalls?
#
# Target: bench/stall_server.py (a fresh one per leg, pinned to CPU TARGET_CPU), which
# answers at once except that a request arriving in [5k+2, 5k+3) s (time 0 = its first
# request) is held until 5k+3 s. Each tool sends TRUTH_RATE/s for TRUTH_DURATION s:
#   loadprobe once ... (rate R, max_in_flight TRUTH_MAX_IN_FLIGHT, timeout 5 s)
#   oha -z Ds -q R -c OHA_CONNS --worker-threads 1 --no-tui --output-format json URL
#   oha ... --latency-correction                          (tool "oha_corr")
#   GOMAXPROCS=1 hey -z Ds -q R/HEY_WORKERS -c HEY_WORKERS -o csv URL   (every request's time)
#   wrk -t1 -c20 -dDs -s bench/wrk_percentiles.lua URL    (closed loop; first rate only)
# The truth for an open model at rate R: arrival i at i/R, latency = 5k+3 − t inside a stall,
# else 0 (bench/report.py computes its percentiles; the server's own record of arrivals and
# answers is the cross-check and says how many requests each tool actually sent).

STALL_PID=""

start_stall() {
  rm -f "$LEG/stall.port"
  taskset -c "$TARGET_CPU" "$PYTHON" "$BENCH_DIR/stall_server.py" --port-file "$LEG/stall.port" \
    --record "$LEG/stall.json" 2> "$LEG/stall.stderr" &
  STALL_PID=$!
  BG_PIDS=("$STALL_PID")
  local _
  # No test request: the first request sets the server's time 0.
  for _ in $(seq 100); do
    [[ -s $LEG/stall.port ]] && break
    kill -0 "$STALL_PID" 2>/dev/null || { cat "$LEG/stall.stderr" >&2; die "stall server exited"; }
    sleep 0.05
  done
  [[ -s $LEG/stall.port ]] || die "stall server did not start"
  STALL_PORT=$(cat "$LEG/stall.port")
}

stop_stall() {
  [[ -n $STALL_PID ]] || return 0
  kill -TERM "$STALL_PID" 2>/dev/null || true
  local _
  for _ in $(seq 100); do kill -0 "$STALL_PID" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$STALL_PID" 2>/dev/null || true
  wait "$STALL_PID" 2>/dev/null || true
  STALL_PID=""
  # shellcheck disable=SC2034  # run.sh's cleanup reads it
  BG_PIDS=()
  [[ -s $LEG/stall.json ]] || leg_note "the stall server wrote no record"
}

truth_leg_loadprobe() {
  local rate=$1 cfg=$LEG/loadprobe.yml
  cat > "$cfg" <<EOF
global: {drain_timeout: ${DRAIN_TIMEOUT}s}
targets:
  stall:
    url: http://127.0.0.1:$STALL_PORT
    timeout: 5s
    pool: {max_idle_per_host: $MAX_IN_FLIGHT}
probes:
  - name: bench
    target: stall
    schedule: {every: 1h, for: ${TRUTH_DURATION}s}
    # Room for every arrival of a 1 s stall: nothing is dropped unless the generator lags.
    load: {rate: $rate, max_in_flight: $TRUTH_MAX_IN_FLIGHT}
    request: {method: GET, path: /ok, expect: {status: [200]}}
EOF
  lp_once "$cfg" "$TRUTH_DURATION"
}

truth_oha() {
  local rate=$1 rc=0
  shift
  oha_cmd "$TRUTH_DURATION" "$OHA_CONNS" "$rate" "http://127.0.0.1:$STALL_PORT/ok" "$@"
  leg_cmd "${OHA[*]/#http*/URL}"
  launch "$LEG" "${OHA[@]}"
  wait "$TIME_PID" || rc=$?
  return "$rc"
}
truth_leg_oha() { truth_oha "$1"; }
truth_leg_oha_corr() { truth_oha "$1" --latency-correction; }

truth_leg_hey() {
  local rate=$1 rc=0 per_worker
  per_worker=$(python3 -c "print(round($rate / $HEY_WORKERS, 6))")
  local cmd=(hey -z "${TRUTH_DURATION}s" -q "$per_worker" -c "$HEY_WORKERS" -o csv "http://127.0.0.1:$STALL_PORT/ok")
  leg_cmd "GOMAXPROCS=1 ${cmd[*]/#http*/URL}"
  launch "$LEG" env GOMAXPROCS=1 "${cmd[@]}"
  wait "$TIME_PID" || rc=$?
  return "$rc"
}

truth_leg_wrk() {
  local rc=0 cmd=(wrk -t1 -c20 -d"${TRUTH_DURATION}s" -s "$BENCH_DIR/wrk_percentiles.lua" "http://127.0.0.1:$STALL_PORT/ok")
  leg_cmd "wrk -t1 -c20 -d${TRUTH_DURATION}s -s bench/wrk_percentiles.lua URL"
  launch "$LEG" "${cmd[@]}"
  wait "$TIME_PID" || rc=$?
  return "$rc"
}

scenario_truth() {
  local rep rate tool rc first_rate
  first_rate=${TRUTH_RATES%% *}
  log "truth: rates $TRUTH_RATES, $TRUTH_TOOLS, $TRUTH_DURATION s each, $REPEATS run(s)"
  for rep in $(seq "$REPEATS"); do
    for rate in $TRUTH_RATES; do
      for tool in $TRUTH_TOOLS; do
        case $tool in loadprobe|oha|oha_corr|hey|wrk) ;; *) die "unknown tool '$tool' in TRUTH_TOOLS" ;; esac
        if [[ $tool == loadprobe && -z $LOADPROBE ]]; then continue; fi
        # wrk has no rate (closed loop, 20 connections): once per run, beside the first rate.
        if [[ $tool == wrk && $rate != "$first_rate" ]]; then continue; fi
        begin_leg truth "$tool" "$rep" "rate=$rate" "duration=$TRUTH_DURATION"
        log "truth $rep/$REPEATS: $tool at $rate/s for $TRUTH_DURATION s"
        start_stall
        rc=0
        "truth_leg_$tool" "$rate" || rc=$?
        stop_stall
        end_leg "$rc"
        sleep "$PAUSE"
      done
    done
  done
  scenario_report truth
}
