# shellcheck shell=bash
# bench/scenarios/closed.sh — `bench/run.sh closed`: the most one core can send, 32
# connections, CLOSED_DURATION s, against nginx.
#
#   loadprobe once ... (rate CLOSED_RATE, above what one core can do; max_in_flight 32, so
#                       it keeps 32 requests in flight and drops — and counts — the rest)
#   wrk -t1 -c32 -d10s URL
#   oha -z 10s -c 32 --worker-threads 1 --no-tui --output-format json URL
#   (hey -c32 with GOMAXPROCS=1 when CLOSED_TOOLS names it)
# Figures: req/s = nginx lines / duration, and µs of CPU (user+sys) per request. nginx's one
# worker saturates near wrk's rate, so CPU per request is the fair comparison.

closed_leg_loadprobe() {
  local cfg=$LEG/loadprobe.yml
  write_loadprobe_config "$cfg" bench 1h "${CLOSED_DURATION}s" "$CLOSED_RATE" "$CLOSED_CONNS" "$DRAIN_TIMEOUT"
  lp_once "$cfg" "$CLOSED_DURATION"
}

closed_leg_wrk() {
  local rc=0 cmd=(wrk -t1 -c"$CLOSED_CONNS" -d"${CLOSED_DURATION}s" --latency "http://127.0.0.1:$NGINX_PORT/ok")
  leg_cmd "${cmd[*]/#http*/URL}"
  launch "$LEG" "${cmd[@]}"
  wait "$TIME_PID" || rc=$?
  return "$rc"
}

closed_leg_oha() {
  local rc=0
  oha_cmd "$CLOSED_DURATION" "$CLOSED_CONNS" - "http://127.0.0.1:$NGINX_PORT/ok"
  leg_cmd "${OHA[*]/#http*/URL}"
  launch "$LEG" "${OHA[@]}"
  wait "$TIME_PID" || rc=$?
  return "$rc"
}

closed_leg_hey() {
  local rc=0 cmd=(hey -z "${CLOSED_DURATION}s" -c "$CLOSED_CONNS" "http://127.0.0.1:$NGINX_PORT/ok")
  leg_cmd "GOMAXPROCS=1 ${cmd[*]/#http*/URL}"
  launch "$LEG" env GOMAXPROCS=1 "${cmd[@]}"
  wait "$TIME_PID" || rc=$?
  return "$rc"
}

scenario_closed() {
  local rep tool rc
  log "closed: $CLOSED_TOOLS, $CLOSED_CONNS connections, $CLOSED_DURATION s, $REPEATS run(s)"
  for rep in $(seq "$REPEATS"); do
    for tool in $CLOSED_TOOLS; do
      case $tool in loadprobe|wrk|oha|hey) ;; *) die "unknown tool '$tool' in CLOSED_TOOLS" ;; esac
      if [[ $tool == loadprobe && -z $LOADPROBE ]]; then continue; fi
      begin_leg closed "$tool" "$rep" "duration=$CLOSED_DURATION" "conns=$CLOSED_CONNS" "rate=$CLOSED_RATE"
      log "closed $rep/$REPEATS: $tool"
      rc=0
      "closed_leg_$tool" || rc=$?
      end_leg "$rc"
      sleep "$PAUSE"
    done
  done
  scenario_report closed
}
