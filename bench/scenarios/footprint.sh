# shellcheck shell=bash
# bench/scenarios/footprint.sh — `bench/run.sh footprint`: loadprobe's own footprint, as
# the exporter (`loadprobe --config.file=F`, serving /metrics), pinned to CPU GEN_CPU.
# Legs, interleaved within each of REPEATS runs:
#   idle     a config with no probes (valid: loadprobe serves its endpoints and sends
#            nothing), FOOT_IDLE s: VmRSS at the end
#   demo     config/loadprobe.yml (the demo: its in-process demo target and 6 probes; ports
#            moved to free ones), FOOT_DEMO s: VmRSS at the end and its max
#   load     one probe at FOOT_LOAD_RATE/s (max_in_flight MAX_IN_FLIGHT) against nginx for
#            FOOT_LOAD s: VmRSS every second (flat over time?)
#   metrics  FOOT_PROBES probes x 3 steps at 1/s each against nginx; after 5 s, FOOT_SCRAPES
#            scrapes of /metrics with curl (on CPU TARGET_CPU): time_total and size
# Then SIGTERM; loadprobe must exit by itself within drain_timeout + 5 s.

FOOT_WARMUP=5   # metrics leg: seconds before the first scrape (every probe has run)

foot_config_idle() {
  cat > "$1" <<EOF
# No probes: loadprobe serves /metrics, the status page and health, and sends nothing.
global: {drain_timeout: ${DRAIN_TIMEOUT}s}
targets: {}
probes: []
EOF
}

foot_config_demo() {
  local port
  port=$(free_port)
  sed "s/127\.0\.0\.1:10181/127.0.0.1:$port/g" "$REPO_DIR/config/loadprobe.yml" > "$1"
  grep -q "127.0.0.1:$port" "$1" || die "config/loadprobe.yml: no 127.0.0.1:10181 to move"
}

foot_config_load() {
  cat > "$1" <<EOF
global: {drain_timeout: ${DRAIN_TIMEOUT}s}
targets:
  nginx:
    url: http://127.0.0.1:$NGINX_PORT
    timeout: 2s
    pool: {max_idle_per_host: $MAX_IN_FLIGHT}
probes:
  - name: bench
    target: nginx
    load: {rate: $FOOT_LOAD_RATE, max_in_flight: $MAX_IN_FLIGHT}
    request: {method: GET, path: /ok, expect: {status: [200]}}
EOF
}

foot_config_metrics() {
  local i
  {
    echo "global: {drain_timeout: ${DRAIN_TIMEOUT}s}"
    echo "targets:"
    echo "  nginx: {url: http://127.0.0.1:$NGINX_PORT, timeout: 2s}"
    echo "probes:"
    for i in $(seq "$FOOT_PROBES"); do
      printf '  - name: p%03d\n' "$i"
      echo "    target: nginx"
      echo "    load: {rate: 1, max_in_flight: 4}"
      echo "    steps:"
      echo "      - {name: first, path: /ok, expect: {status: [200]}}"
      echo "      - {name: second, path: /ok, expect: {status: [200]}}"
      echo "      - {name: third, path: /ok, expect: {status: [200]}}"
    done
  } > "$1"
}

vmrss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || true; }

# foot_leg KIND SECONDS: loadprobe serving config KIND for SECONDS, then SIGTERM.
foot_leg() {
  local kind=$1 secs=$2 cfg=$LEG/loadprobe.yml port rc=0 _ t
  "foot_config_$kind" "$cfg"
  port=$(free_port)
  # shellcheck disable=SC2086  # LOADPROBE_EXTRA_ARGS is a list of flags
  launch "$LEG" "$LOADPROBE" --config.file="$cfg" --web.listen-address="127.0.0.1:$port" \
    --log.level=warn $LOADPROBE_EXTRA_ARGS
  leg_cmd "loadprobe --config.file=loadprobe.yml --web.listen-address=127.0.0.1:PORT --log.level=warn${LOADPROBE_EXTRA_ARGS:+ $LOADPROBE_EXTRA_ARGS}"
  [[ -n $TOOL_PID ]] || { wait "$TIME_PID" || true; return 1; }
  for t in $(seq "$secs"); do
    kill -0 "$TOOL_PID" 2>/dev/null || break
    sleep 1
    if [[ $kind == metrics && $t == "$FOOT_WARMUP" ]]; then foot_scrapes "$port"; fi
  done
  if ! kill -0 "$TOOL_PID" 2>/dev/null; then
    # Whatever runs under the wrapper still (if TOOL_PID were not its child) must not hang us.
    pkill -TERM -P "$TIME_PID" 2>/dev/null || true
    wait "$TIME_PID" || true
    leg_note "loadprobe exited before the end of the leg: $(tail -n 3 "$LEG/stderr" | tr '\n' ' ')"
    return 1
  fi
  echo "rss_end_kb=$(vmrss_kb "$TOOL_PID")" >> "$LEG/leg.txt"
  echo "threads=$(awk '/^Threads:/{print $2}' "/proc/$TOOL_PID/status")" >> "$LEG/leg.txt"
  if [[ $kind != metrics ]]; then
    # One scrape for the record (size of /metrics in this configuration), after the RSS.
    curl -fsS -o "$LEG/scrape.txt" "http://127.0.0.1:$port/metrics" || true
  fi
  kill -TERM "$TOOL_PID" 2>/dev/null || true
  for _ in $(seq $(((DRAIN_TIMEOUT + 5) * 10))); do
    kill -0 "$TOOL_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$TOOL_PID" 2>/dev/null; then
    leg_note "did not exit within $((DRAIN_TIMEOUT + 5)) s of SIGTERM; killed"
    kill -KILL "$TOOL_PID" 2>/dev/null || true
    rc=1
  fi
  wait "$TIME_PID" || rc=$?
  # 143 = killed by SIGTERM without a handler; loadprobe handles it and exits 0.
  return "$rc"
}

# FOOT_SCRAPES scrapes of /metrics, one after another (0.2 s apart), curl on TARGET_CPU so
# it does not take loadprobe's core: "time_total_s size_bytes http_code" per line.
foot_scrapes() {
  local port=$1 i
  curl -fsS -o "$LEG/scrape.txt" "http://127.0.0.1:$port/metrics" || true
  for i in $(seq "$FOOT_SCRAPES"); do
    taskset -c "$TARGET_CPU" curl -s -o /dev/null -w '%{time_total} %{size_download} %{http_code}\n' \
      "http://127.0.0.1:$port/metrics" >> "$LEG/scrapes.txt" || true
    sleep 0.2
  done
}

scenario_footprint() {
  local rep kind secs rc
  [[ -n $LOADPROBE ]] || { log "footprint: no loadprobe binary, skipped"; return 0; }
  log "footprint: idle $FOOT_IDLE s, demo $FOOT_DEMO s, $FOOT_LOAD_RATE/s for $FOOT_LOAD s, $FOOT_PROBES probes x 3 steps; $REPEATS run(s)"
  for rep in $(seq "$REPEATS"); do
    for kind in idle demo load metrics; do
      case $kind in
        idle) secs=$FOOT_IDLE ;;
        demo) secs=$FOOT_DEMO ;;
        load) secs=$FOOT_LOAD ;;
        metrics) secs=$((FOOT_WARMUP + 1)) ;;   # + the scrapes (about FOOT_SCRAPES x 0.2 s)
      esac
      begin_leg footprint "$kind" "$rep" "duration=$secs" "rate=$([[ $kind == load ]] && echo "$FOOT_LOAD_RATE" || echo 0)" \
        "probes=$([[ $kind == metrics ]] && echo "$FOOT_PROBES" || echo -)"
      log "footprint $rep/$REPEATS: $kind for $secs s"
      rc=0
      foot_leg "$kind" "$secs" || rc=$?
      end_leg "$rc"
      sleep "$PAUSE"
    done
  done
  scenario_report footprint
}
