# shellcheck shell=bash
# bench/scenarios/fixed.sh — `bench/run.sh fixed`: open-model fixed rates against nginx.
#
# For each of REPEATS runs, for each rate of FIXED_RATES (FIXED_DURATION s each,
# FIXED_DURATION_LOW s at 10/s and below), loadprobe, oha and hey one after another:
#   loadprobe once --config.file=F --probe=bench --duration=Ds --output json
#       (rate R, max_in_flight FIXED_MAX_IN_FLIGHT, pool max_connections OHA_CONNS: the same
#       64 connections as oha; arrivals that find them busy wait for one, timed from their
#       intended instant, instead of being dropped at max_in_flight)
#   oha -z Ds -q R -c OHA_CONNS --worker-threads 1 --no-tui --output-format json URL
#   GOMAXPROCS=1 hey -z Ds -q R/HEY_WORKERS -c HEY_WORKERS URL     (hey's -q is per worker)
# and, at rates up to SHAPE_MAX_RATE, each arrival shape sent by both loadprobe and hey
# (SHAPE_TOOLS), because hey's workers tick in step: `hey -c 50` sends bursts of 50 every
# 50/R s, which costs one wake-up per 50 requests, where loadprobe and oha spread the
# arrivals evenly (a wake-up or two per request):
#   hey_even           GOMAXPROCS=1 hey -z Ds -q R -c 1 URL: one worker, evenly spaced
#   loadprobe_bursts   loadprobe with load {burst: {size: HEY_WORKERS, every: HEY_WORKERS/R s}}
# Figures: achieved rate (nginx lines / D), CPU s per 100k requests (user+sys of the whole
# process / nginx lines), peak RSS, p50 and p99 as each tool reports them.

fixed_duration() { if (($1 <= 10)); then echo "$FIXED_DURATION_LOW"; else echo "$FIXED_DURATION"; fi; }

# fixed_loadprobe_run LOAD DURATION: loadprobe with LOAD (see write_loadprobe_config), oha's
# connection count as its bound.
fixed_loadprobe_run() {
  local load=$1 dur=$2 cfg=$LEG/loadprobe.yml
  write_loadprobe_config "$cfg" bench 1h "${dur}s" "$load" "$FIXED_MAX_IN_FLIGHT" \
    "$DRAIN_TIMEOUT" "$OHA_CONNS"
  lp_once "$cfg" "$dur"
}

fixed_leg_loadprobe() { fixed_loadprobe_run "$1" "$2"; }

# loadprobe in hey's arrival shape: HEY_WORKERS arrivals at once, every HEY_WORKERS/rate s.
fixed_leg_loadprobe_bursts() {
  local every_ms
  every_ms=$(python3 -c "print(round($HEY_WORKERS * 1000 / $1))")
  fixed_loadprobe_run "burst: {size: $HEY_WORKERS, every: ${every_ms}ms}" "$2"
}

fixed_leg_oha() {
  local rate=$1 dur=$2 rc=0
  oha_cmd "$dur" "$OHA_CONNS" "$rate" "http://127.0.0.1:$NGINX_PORT/ok"
  leg_cmd "${OHA[*]/#http*/URL}"
  launch "$LEG" "${OHA[@]}"
  wait "$TIME_PID" || rc=$?
  return "$rc"
}

# fixed_hey_run PER_WORKER_RATE WORKERS DURATION (hey's -q is per worker).
fixed_hey_run() {
  local rc=0
  local cmd=(hey -z "${3}s" -q "$1" -c "$2" "http://127.0.0.1:$NGINX_PORT/ok")
  leg_cmd "GOMAXPROCS=1 ${cmd[*]/#http*/URL}"
  launch "$LEG" env GOMAXPROCS=1 "${cmd[@]}"
  wait "$TIME_PID" || rc=$?
  return "$rc"
}

fixed_leg_hey() {
  fixed_hey_run "$(python3 -c "print(round($1 / $HEY_WORKERS, 6))")" "$HEY_WORKERS" "$2"
}

# hey with one worker: its arrivals evenly spaced, as loadprobe's and oha's are.
fixed_leg_hey_even() { fixed_hey_run "$1" 1 "$2"; }

# The tools of one rate: TOOLS, then SHAPE_TOOLS up to SHAPE_MAX_RATE.
fixed_tools() {
  if (($1 <= SHAPE_MAX_RATE)); then echo "$TOOLS $SHAPE_TOOLS"; else echo "$TOOLS"; fi
}

scenario_fixed() {
  local rep rate tool dur rc total=0
  for rate in $FIXED_RATES; do
    [[ $rate =~ ^[0-9]+$ && $rate -gt 0 ]] || die "FIXED_RATES: '$rate' is not a positive integer"
    total=$((total + ($(fixed_duration "$rate") + 4) * $(wc -w <<< "$(fixed_tools "$rate")")))
  done
  log "fixed: rates $FIXED_RATES, tools $TOOLS (+ $SHAPE_TOOLS up to $SHAPE_MAX_RATE/s), $REPEATS run(s): about $((total * REPEATS / 60 + 1)) min"
  for rep in $(seq "$REPEATS"); do
    for rate in $FIXED_RATES; do
      dur=$(fixed_duration "$rate")
      for tool in $(fixed_tools "$rate"); do
        case $tool in loadprobe|oha|hey|hey_even|loadprobe_bursts) ;;
          *) die "unknown tool '$tool' in TOOLS or SHAPE_TOOLS" ;; esac
        if [[ $tool == loadprobe* && -z $LOADPROBE ]]; then continue; fi
        begin_leg fixed "$tool" "$rep" "rate=$rate" "duration=$dur"
        log "fixed $rep/$REPEATS: $tool at $rate/s for $dur s"
        rc=0
        "fixed_leg_$tool" "$rate" "$dur" || rc=$?
        end_leg "$rc"
        sleep "$PAUSE"   # let connections close before the next tool
      done
    done
  done
  scenario_report fixed
}
