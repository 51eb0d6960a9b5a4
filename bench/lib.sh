# shellcheck shell=bash
# bench/lib.sh — shared plumbing of bench/run.sh and bench/soak.sh (sourced, not run).
#
# The caller sets, before using these functions:
#   BENCH_DIR, REPO_DIR   this directory and the repository
#   TMP                   its temp dir (nginx's prefix lives in $TMP/nginx)
#   TARGET_CPU            the CPU nginx's one worker is pinned to
#   LOG_TAG               prefix of log lines ([bench] by default)
# and owns cleanup: it calls stop_nginx from its EXIT trap.
#
# Sets: NGINX_PID, NGINX_WORKER, NGINX_PORT, ACCESS_LOG (start_nginx);
#       LOADPROBE (resolve_loadprobe_bin).

log() { printf '[%s] %s\n' "${LOG_TAG:-bench}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${LOG_TAG:-bench}" "$*" >&2; exit 1; }

# Sets LOADPROBE to the binary to run, or to "" when there is none:
#   LOADPROBE_BIN    this binary (a missing file leaves LOADPROBE empty);
#   SKIP_BUILD=1     target/release/loadprobe as it is (missing: empty);
#   otherwise        cargo build --release, then target/release/loadprobe.
# shellcheck disable=SC2034  # LOADPROBE is read by the caller
resolve_loadprobe_bin() {
  LOADPROBE=""
  if [[ -n ${LOADPROBE_BIN:-} ]]; then
    if [[ -x $LOADPROBE_BIN ]]; then LOADPROBE=$LOADPROBE_BIN
    else log "LOADPROBE_BIN=$LOADPROBE_BIN does not exist"; fi
  elif [[ ${SKIP_BUILD:-0} == 1 ]]; then
    if [[ -x $REPO_DIR/target/release/loadprobe ]]; then LOADPROBE=$REPO_DIR/target/release/loadprobe
    else log "SKIP_BUILD=1 and no target/release/loadprobe"; fi
  else
    log "cargo build --release (set LOADPROBE_BIN or SKIP_BUILD=1 to skip)"
    (cd "$REPO_DIR" && cargo build --release)
    LOADPROBE=$REPO_DIR/target/release/loadprobe
  fi
}

free_port() {
  # Ask the kernel for a free port on loopback (tiny race until the server binds; fine here).
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- nginx

start_nginx() {
  local d=$TMP/nginx
  mkdir -p "$d/html" "$d/logs" "$d/tmp"
  # A static file, not `return 200`: `return` answers in the rewrite phase and skips the
  # phases (limit_req, access, content) a real request goes through (anchor-figures.md).
  printf 'ok\n' > "$d/html/ok"
  # Started as root, nginx's worker runs as `nobody`: mktemp's 0700 would make it answer 403.
  chmod 755 "$TMP" "$d" "$d/html"; chmod 644 "$d/html/ok"
  NGINX_PORT=$(free_port)
  ACCESS_LOG=$d/logs/access.log
  cat > "$d/nginx.conf" <<EOF
daemon off;                       # the script owns the process: its pid is \$!
worker_processes 1;               # one worker, pinned to CPU $TARGET_CPU below
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 4096; }
http {
    default_type text/plain;
    # One line per request: the ground truth every generator is checked against.
    log_format bench '\$request_method \$uri \$status \$msec';
    access_log $ACCESS_LOG bench;   # unbuffered: the line is there when the response is
    # Keep connections for the whole leg: the default (1000 requests per connection) would
    # make every generator reconnect once a second per connection at 1000/s x 1 conn.
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $d/html;
        location = /ok { }          # served by the static file handler
    }
}
EOF
  # -e: the error log before the config is read (else /var/log/nginx/error.log).
  nginx -p "$d/" -c "$d/nginx.conf" -e "$d/logs/error.log" &
  NGINX_PID=$!
  local _ body=""
  for _ in $(seq 50); do
    body=$(curl -fsS "http://127.0.0.1:$NGINX_PORT/ok" 2>/dev/null) && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$d/logs/error.log" >&2; die "nginx exited"; }
    sleep 0.1
  done
  [[ $body == ok ]] || { cat "$d/logs/error.log" >&2; die "nginx does not serve /ok"; }
  NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -n1)
  [[ -n $NGINX_WORKER ]] || die "no nginx worker process"
  if (($(nproc) > 1)); then
    taskset -pc "$TARGET_CPU" "$NGINX_WORKER" >/dev/null
  else
    log "warning: 1 CPU only; nginx and the generator share it (figures not comparable)"
  fi
  log "nginx $NGINX_PID (worker $NGINX_WORKER on CPU $(taskset -pc "$NGINX_WORKER" | awk '{print $NF}')) on 127.0.0.1:$NGINX_PORT"
}

# Fast shutdown of master + worker; a no-op when nginx is not running. For EXIT traps.
stop_nginx() {
  if [[ -n ${NGINX_PID:-} ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
}

log_lines() { wc -l < "$ACCESS_LOG"; }

# CPU seconds (user+sys) the nginx worker used so far, from /proc/PID/stat fields 14+15.
nginx_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14+$15)/hz}' "/proc/$NGINX_WORKER/stat"
}

# ---------------------------------------------------------------- generator processes

# The tool's pid: the one child of /usr/bin/time (taskset and env exec, time forks).
# Not found by name: a script's comm is its interpreter's.
tool_pid() {
  local root=$1 c _
  for _ in $(seq 100); do
    c=$(pgrep -P "$root" | head -n1 || true)
    [[ -n $c ]] && { echo "$c"; return 0; }
    kill -0 "$root" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# write_loadprobe_config FILE PROBE EVERY FOR LOAD MAX_IN_FLIGHT DRAIN_TIMEOUT_S [MAX_CONNECTIONS]
# One target `nginx` (NGINX_PORT), one probe GET /ok expecting 200 whose first run starts
# at boot and lasts FOR (the next would be EVERY later: set it beyond the measurement).
# LOAD is a rate (arrivals/s) or the rest of a `load` mapping (`burst: {size: 50, every: 5s}`).
# With MAX_CONNECTIONS, the target's pool opens at most that many connections.
write_loadprobe_config() {
  local file=$1 probe=$2 every=$3 length=$4 load=$5 mif=$6 drain=$7 conns=${8:-}
  [[ $load =~ ^[0-9.]+$ ]] && load="rate: $load"
  cat > "$file" <<EOF
global: {drain_timeout: ${drain}s}
targets:
  nginx:
    url: http://127.0.0.1:$NGINX_PORT
    timeout: 2s
    pool: {max_idle_per_host: $mif${conns:+, max_connections: $conns}}
probes:
  - name: $probe
    target: nginx
    # One run that starts at boot and lasts $length; the next would be in $every.
    schedule: {every: $every, for: $length}
    load: {$load, max_in_flight: $mif}
    request: {method: GET, path: /ok, expect: {status: [200]}}
EOF
}
