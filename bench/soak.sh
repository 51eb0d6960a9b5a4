#!/usr/bin/env bash
# bench/soak.sh — loadprobe's soak run: constant load for MINUTES minutes against nginx on
# loopback; does resident memory stay flat, and do loadprobe's counts still match the
# target's to the request?
#
#   bench/soak.sh                    # 2000 arrivals/s for 10 min (~11 min with the build)
#   MINUTES=60 bench/soak.sh         # the long run
#   MINUTES=3 RATE=500 SKIP_BUILD=1 bench/soak.sh    # quick check of the script (~3.5 min)
#
# Same method as bench/run.sh (shared code in bench/lib.sh): a private nginx, 1 worker
# pinned to CPU $TARGET_CPU, serving a static /ok; loadprobe pinned to CPU $GEN_CPU under
# /usr/bin/time; nginx's access log is the ground truth. loadprobe runs one probe with
# `schedule: {every: 24h, for: <MINUTES>m}`, so its run starts at boot and ends by itself.
# Every SAMPLE_EVERY s (10) the script reads loadprobe's VmRSS and user+sys CPU from /proc,
# and nginx's line count. When the run is over it scrapes /metrics once, stops loadprobe
# with SIGTERM and writes a markdown report to $RESULTS_DIR/soak-<date>.md (and stdout).
#
# Exit status: 0 pass; 1 when resident memory grew by GROWTH_LIMIT_PCT (2) % or more
# between minute 2 and the end of the run, when loadprobe_requests_total differs from the
# requests nginx logged, when loadprobe's own accounting does not add up (arrivals !=
# requests + dropped), or when loadprobe did not run the whole way; 2 on a setup error.
#
# Environment (defaults in brackets):
#   RATE [2000] arrivals/s · MINUTES [10] (at least 3) · MAX_IN_FLIGHT [64]
#   MAX_CONNECTIONS [8]           the target's pool.max_connections; 0 = no bound (see below)
#   LOADPROBE_BIN                 use this binary, do not build
#   SKIP_BUILD=1                  do not build; use target/release/loadprobe
#   LOADPROBE_EXTRA_ARGS          extra flags for loadprobe (e.g. --runtime.worker-threads=1)
#   GEN_CPU [0] · TARGET_CPU [1] · SAMPLE_EVERY [10] s · GROWTH_LIMIT_PCT [2]
#   RESULTS_DIR [bench/results] · KEEP_TMP=1 keeps the temp dir (config, samples, logs)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH_DIR   # the Python snippets import bench/summarize.py from it
REPO_DIR=$(dirname "$BENCH_DIR")

RATE=${RATE:-2000}
MINUTES=${MINUTES:-10}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-64}
# As a sidecar would be configured: without a bound, the arrivals that fall due together
# after the generator's CPU was away for 5-20 ms (it happens here a few times a minute) each
# open a connection, the pool keeps them warm, and resident memory steps up by ~30 kB for
# each, at whatever minute the largest such stall comes. With 8, they queue on the open
# connections (nginx answers in ~0.1 ms) and their wait is in their latency.
MAX_CONNECTIONS=${MAX_CONNECTIONS:-8}
GEN_CPU=${GEN_CPU:-0}
TARGET_CPU=${TARGET_CPU:-1}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
GROWTH_LIMIT_PCT=${GROWTH_LIMIT_PCT:-2}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
LOADPROBE_EXTRA_ARGS=${LOADPROBE_EXTRA_ARGS:-}
DRAIN_TIMEOUT=5   # seconds; global.drain_timeout in loadprobe's config
PROBE=soak
BASELINE_MINUTE=2  # memory growth is measured from here (start-up and warm-up are over)

LOG_TAG=soak
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
die() { printf '[soak] error: %s\n' "$*" >&2; exit 2; }   # 2: setup error (1 = soak failed)

case "${1:-}" in
  "") ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac
trap 'exit 2' ERR   # a failed setup command exits 2, not 1 (1 = the soak failed)
[[ $RATE =~ ^[0-9]+$ && $RATE -gt 0 ]] || die "RATE must be a positive integer (arrivals/s), got '$RATE'"
[[ $MINUTES =~ ^[0-9]+$ && $MINUTES -gt $BASELINE_MINUTE ]] ||
  die "MINUTES must be a whole number above $BASELINE_MINUTE, got '$MINUTES'"
[[ $MAX_CONNECTIONS =~ ^[0-9]+$ ]] || die "MAX_CONNECTIONS must be a whole number, got '$MAX_CONNECTIONS'"
((MAX_CONNECTIONS > 0)) || MAX_CONNECTIONS=""   # 0: no bound
[[ $SAMPLE_EVERY =~ ^[0-9]+$ && $SAMPLE_EVERY -gt 0 && $((60 % SAMPLE_EVERY)) -eq 0 ]] ||
  die "SAMPLE_EVERY must divide 60 s, got '$SAMPLE_EVERY'"

for t in nginx taskset curl python3 pgrep; do
  command -v "$t" >/dev/null || die "$t is required (apt-get install nginx-light util-linux curl python3 procps)"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is required (apt-get install time)"

# What is measured: the commit (and whether src/ had uncommitted changes) when the binary
# is built, not when the report is written (others may commit in between).
if [[ -n ${LOADPROBE_BIN:-} ]]; then
  COMMIT="binary given by LOADPROBE_BIN ($LOADPROBE_BIN)"
else
  COMMIT=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo none)
  if [[ -n $(git -C "$REPO_DIR" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    COMMIT="$COMMIT + uncommitted changes in src/"
  fi
  [[ ${SKIP_BUILD:-0} == 1 ]] && COMMIT="$COMMIT (SKIP_BUILD=1: target/release/loadprobe as it was)"
fi
resolve_loadprobe_bin
[[ -n $LOADPROBE ]] || die "no loadprobe binary"

# ---------------------------------------------------------------- temp dir + cleanup

TMP=$(mktemp -d /tmp/loadprobe-soak.XXXXXX)
NGINX_PID=""
TIME_PID=""
LP_PID=""

# shellcheck disable=SC2317  # run from the EXIT trap
cleanup() {
  local rc=$?
  trap - ERR
  # loadprobe itself first (killing /usr/bin/time would orphan it), then its wrapper.
  if [[ -n $LP_PID ]] && kill -0 "$LP_PID" 2>/dev/null; then
    kill -TERM "$LP_PID" 2>/dev/null || true
    sleep 1
    kill -KILL "$LP_PID" 2>/dev/null || true
  fi
  if [[ -n $TIME_PID ]]; then kill "$TIME_PID" 2>/dev/null || true; wait "$TIME_PID" 2>/dev/null || true; fi
  stop_nginx
  if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers

now_us() { echo "${EPOCHREALTIME/./}"; }   # wall clock, microseconds (bash 5)
CLK_TCK=$(getconf CLK_TCK)

# "VmRSS_kB cpu_s fds RssAnon_kB RssFile_kB" of loadprobe (all threads: /proc/PID/stat
# fields 14+15 are the whole thread group's), or nothing once it is gone. Open fds are
# mostly connections to nginx: they show whether a step in memory came with more
# connections. VmRSS = RssAnon (heap, stacks: what loadprobe allocates) + RssFile (pages of
# the binary and libraries mapped in as code runs for the first time).
lp_sample() {
  local rss cpu fds anon file
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$LP_PID/status" 2>/dev/null) || return 0
  anon=$(awk '/^RssAnon:/{print $2}' "/proc/$LP_PID/status" 2>/dev/null) || return 0
  file=$(awk '/^RssFile:/{print $2}' "/proc/$LP_PID/status" 2>/dev/null) || return 0
  cpu=$(awk -v hz="$CLK_TCK" '{printf "%.2f", ($14+$15)/hz}' "/proc/$LP_PID/stat" 2>/dev/null) || return 0
  fds=$(find "/proc/$LP_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || return 0
  [[ -n $rss && -n $cpu ]] && echo "$rss $cpu $fds ${anon:-0} ${file:-0}"
}

lp_alive() { [[ -n $LP_PID ]] && kill -0 "$LP_PID" 2>/dev/null; }

# ---------------------------------------------------------------- run

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
start_nginx
NGINX_BEFORE=$(log_lines)   # start_nginx's own readiness check is not counted
NGINX_CPU0=$(nginx_cpu)

CFG=$TMP/loadprobe.yml
write_loadprobe_config "$CFG" "$PROBE" 24h "${MINUTES}m" "$RATE" "$MAX_IN_FLIGHT" \
  "$DRAIN_TIMEOUT" "$MAX_CONNECTIONS"
LP_PORT=$(free_port)
log "loadprobe at $RATE/s for $MINUTES min on CPU $GEN_CPU (load average at start: $LOADAVG_START)"
# shellcheck disable=SC2086  # LOADPROBE_EXTRA_ARGS is a list of flags
taskset -c "$GEN_CPU" /usr/bin/time -o "$TMP/time.txt" -f '%U %S %M %e' \
  "$LOADPROBE" --config.file="$CFG" --web.listen-address="127.0.0.1:$LP_PORT" \
  --log.level=warn $LOADPROBE_EXTRA_ARGS > "$TMP/stdout" 2> "$TMP/stderr" &
TIME_PID=$!
T0=$(now_us)
LP_PID=$(tool_pid "$TIME_PID") || LP_PID=""
[[ -n $LP_PID ]] || { cat "$TMP/stderr" >&2; die "loadprobe did not start"; }

# Samples: t (s since start) · VmRSS kB · CPU s · open fds · nginx lines (this run) ·
# 1-min load average.
SAMPLES=$TMP/samples.tsv
printf 't_s\trss_kb\tcpu_s\tfds\tnginx_lines\tloadavg1\tanon_kb\tfile_kb\n' > "$SAMPLES"
# From here on this script (and what it starts: awk, wc, curl) runs as SCHED_IDLE, only on
# time neither loadprobe nor nginx wants: counting a 30 MB access log every 10 s at normal
# priority preempted one of them for tens of milliseconds, and the arrivals that fell due
# meanwhile went out together and opened connections of their own (a measured artifact:
# 18 connections at once in a quiet 10-minute run).
if command -v chrt > /dev/null; then
  chrt --idle -p 0 $$ || log "chrt --idle failed: the sampler runs at normal priority"
fi
RUN_END_S=$((MINUTES * 60))
RUN_OK=1
NOTES=()
k=1
while ((k * SAMPLE_EVERY <= RUN_END_S)); do
  wait_us=$((T0 + k * SAMPLE_EVERY * 1000000 - $(now_us)))
  if ((wait_us > 0)); then
    # In the background and waited for: a signal (Ctrl-C, TERM) interrupts `wait` at once,
    # so cleanup does not wait for the end of the sleep.
    sleep "$(printf '%d.%06d' $((wait_us / 1000000)) $((wait_us % 1000000)))" & wait $!
  fi
  s=$(lp_sample)
  if [[ -z $s ]]; then
    RUN_OK=0; NOTES+=("loadprobe exited at about $((k * SAMPLE_EVERY)) s, before the end of its run")
    log "${NOTES[-1]}"; tail -n 5 "$TMP/stderr" >&2 || true
    break
  fi
  read -r rss cpu fds anon file <<< "$s"
  lines=$(($(log_lines) - NGINX_BEFORE))
  printf '%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n' $((k * SAMPLE_EVERY)) "$rss" "$cpu" "$fds" "$lines" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$anon" "$file" >> "$SAMPLES"
  if ((k * SAMPLE_EVERY % 60 == 0)); then
    log "minute $((k * SAMPLE_EVERY / 60))/$MINUTES: VmRSS $rss kB, CPU $cpu s, $fds fds, nginx $lines lines"
  fi
  k=$((k + 1))
done

# The run ends by itself at MINUTES; wait until loadprobe shows it over (run_active 0,
# nothing in flight), at most drain_timeout + 5 s, then scrape once more for the counts.
SCRAPE=$TMP/scrape.txt
idle() {
  python3 - "$1" "$PROBE" <<'PY'
import sys
import os
sys.path.insert(0, os.environ["BENCH_DIR"])
from summarize import parse_prometheus
s = parse_prometheus(open(sys.argv[1]).read())
def v(name):
    vals = [x for n, l, x in s if n == name and l.get("probe") == sys.argv[2]]
    return sum(vals) if vals else None
active, in_flight = v("loadprobe_run_active"), v("loadprobe_in_flight_iterations")
# A probe missing from the scrape is not idle: it is a wrong scrape.
sys.exit(0 if active == 0 and (in_flight or 0) == 0 else 1)
PY
}
if ((RUN_OK)); then
  waited=0
  while :; do
    lp_alive || { RUN_OK=0; NOTES+=("loadprobe exited before its run was over"); break; }
    if curl -fsS -o "$SCRAPE.tmp" "http://127.0.0.1:$LP_PORT/metrics" 2>/dev/null; then
      mv "$SCRAPE.tmp" "$SCRAPE"
      idle "$SCRAPE" && break
    fi
    if ((waited >= (DRAIN_TIMEOUT + 5) * 2)); then
      NOTES+=("run still active $((DRAIN_TIMEOUT + 5)) s after its end; used the last scrape"); break
    fi
    sleep 0.5; waited=$((waited + 1))
  done
fi
# After the run: memory once idle (for the report), exact percentiles of the run.
POST=$(lp_sample || true)
curl -fsS -o "$TMP/status.json" "http://127.0.0.1:$LP_PORT/api/v1/status" 2>/dev/null || true
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
sleep 0.5   # nginx writes the log line after the response: let the last ones land
read -r NGINX_LINES NGINX_NON200 < <(awk -v from="$NGINX_BEFORE" \
  'NR > from && $2 == "/ok" { n++; if ($3 != "200") e++ } END { print n + 0, e + 0 }' "$ACCESS_LOG")
NGINX_CPU1=$(nginx_cpu)
# The longest pauses in nginx's log ($msec, 4th field): at 2000/s a pause of more than a
# few ms means nothing reached nginx or nginx wrote nothing. Read beside loadprobe's late
# arrivals (its schedule lag), it tells which side stalled when a burst opened connections.
NGINX_GAPS=$(awk -v from="$NGINX_BEFORE" 'NR > from && $2 == "/ok" {
    if (t0 == "") t0 = $4
    if (prev != "") { g = ($4 - prev) * 1000; if (g >= 5) printf "%.1f@%.0f\n", g, $4 - t0 }
    prev = $4 }' "$ACCESS_LOG" | sort -t@ -k1,1 -g -r | awk 'NR <= 5 { printf "%s ", $0 } END { printf "count=%d", NR }')

# Graceful stop; loadprobe must exit within drain_timeout (+5 s slack).
if lp_alive; then
  kill -TERM "$LP_PID" 2>/dev/null || true
  for _ in $(seq $(((DRAIN_TIMEOUT + 5) * 10))); do lp_alive || break; sleep 0.1; done
  if lp_alive; then
    NOTES+=("did not exit within $((DRAIN_TIMEOUT + 5)) s of SIGTERM; killed")
    kill -KILL "$LP_PID" 2>/dev/null || true
  fi
fi
wait "$TIME_PID" || true
TIME_PID=""; LP_PID=""

# ---------------------------------------------------------------- report

mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/soak-$(date -u +%Y-%m-%d-%H%M%S).md
LP_VERSION=$(timeout 5 "$LOADPROBE" --version 2>/dev/null | head -n1 || true)
{
  printf 'date=%s\ncommit=%s\nloadprobe=%s\n' "$START_DATE" "$COMMIT" "${LP_VERSION:-?}"
  printf 'machine=%s CPUs, %s, kernel %s\n' "$(nproc)" \
    "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)" "$(uname -r)"
  printf 'nginx=%s\n' "$(nginx -v 2>&1 | sed 's/.*\///')"
  printf 'rate=%s\nminutes=%s\nmax_in_flight=%s\nsample_every=%s\n' "$RATE" "$MINUTES" "$MAX_IN_FLIGHT" "$SAMPLE_EVERY"
  printf 'gen_cpu=%s\ntarget_cpu=%s\ngrowth_limit_pct=%s\nbaseline_minute=%s\n' "$GEN_CPU" "$TARGET_CPU" "$GROWTH_LIMIT_PCT" "$BASELINE_MINUTE"
  printf 'extra_args=%s\n' "$LOADPROBE_EXTRA_ARGS"
  printf 'loadavg_start=%s\nloadavg_end=%s\n' "$LOADAVG_START" "$LOADAVG_END"
  printf 'nginx_lines=%s\nnginx_non200=%s\nnginx_cpu_s=%s\n' "$NGINX_LINES" "$NGINX_NON200" \
    "$(python3 -c "print(round($NGINX_CPU1 - $NGINX_CPU0, 2))")"
  printf 'post_run=%s\nrun_ok=%s\n' "$POST" "$RUN_OK"
  printf 'nginx_gaps=%s\n' "$NGINX_GAPS"
  for n in "${NOTES[@]}"; do printf 'note=%s\n' "$n"; done
} > "$TMP/run.txt"
sed "s/127.0.0.1:$NGINX_PORT/127.0.0.1:PORT/" "$CFG" > "$TMP/config.public.yml"

rc=0
python3 - "$TMP" "$OUT" "$PROBE" <<'PY' || rc=$?
import json, os, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
from summarize import parse_prometheus

tmp, out, probe = sys.argv[1:4]
def read(name, default=""):
    try:
        return open(os.path.join(tmp, name), encoding="utf-8", errors="replace").read()
    except FileNotFoundError:
        return default

kv = {}
notes = []
for line in read("run.txt").splitlines():
    k, _, v = line.partition("=")
    if k == "note":
        notes.append(v)
    else:
        kv[k] = v
rate, minutes = int(kv["rate"]), int(kv["minutes"])
every, base_min = int(kv["sample_every"]), int(kv["baseline_minute"])
limit = float(kv["growth_limit_pct"])
duration = minutes * 60
planned = rate * duration

samples = []
for line in read("samples.tsv").splitlines()[1:]:
    t, rss, cpu, fds, lines, la, anon, file = line.split("\t")
    samples.append({"t": int(t), "rss": int(rss), "cpu": float(cpu), "fds": int(fds),
                    "lines": int(lines), "la": la, "anon": int(anon), "file": int(file)})
by_t = {s["t"]: s for s in samples}
base, end = by_t.get(base_min * 60), by_t.get(duration)

scrape = parse_prometheus(read("scrape.txt"))
def metric(name):
    vals = [v for n, l, v in scrape if n == name and l.get("probe") == probe]
    return sum(vals) if vals else None
requests = metric("loadprobe_requests_total")
dropped = metric("loadprobe_arrivals_dropped_total")
arrivals = metric("loadprobe_arrivals_total")
failures = metric("loadprobe_request_failures_total")
def mean_ms(h):
    s, c = metric(h + "_sum"), metric(h + "_count")
    return s / c * 1e3 if s is not None and c else None
lat_mean, lag_mean = mean_ms("loadprobe_request_duration_seconds"), mean_ms("loadprobe_schedule_lag_seconds")
def late_over(le):
    # Iterations that started more than `le` seconds after their intended instant.
    count = metric("loadprobe_schedule_lag_seconds_count")
    under = [v for n, l, v in scrape if n == "loadprobe_schedule_lag_seconds_bucket"
             and l.get("probe") == probe and abs(float(l.get("le", "nan")) - le) < 1e-9]
    return None if count is None or not under else count - under[0]
p50 = p99 = None
try:
    for p in json.loads(read("status.json", "{}") or "{}").get("probes", []):
        steps = (p.get("last_report") or {}).get("steps") or []
        if p.get("name") == probe and steps:
            p50, p99 = steps[0]["p50"] * 1e3, steps[0]["p99"] * 1e3
except (ValueError, KeyError, TypeError):
    pass

nginx = int(kv["nginx_lines"])
time_line = [l for l in read("time.txt").splitlines() if l.strip()]
user = sys_ = peak_kb = None
if time_line:
    try:
        u, s_, m = time_line[-1].split()[:3]
        user, sys_, peak_kb = float(u), float(s_), int(m)
    except ValueError:
        pass
max_sampled = max((s["rss"] for s in samples), default=None)

failed = []
growth = None
if base and end:
    growth = (end["rss"] - base["rss"]) / base["rss"] * 100
    if growth >= limit:
        failed.append("resident memory grew %.2f %% between minute %d and minute %d (limit: under %g %%)"
                      % (growth, base_min, minutes, limit))
else:
    failed.append("no memory sample at minute %d and at the end" % base_min)
if requests is None:
    failed.append("no loadprobe_requests_total for probe %s in the final scrape" % probe)
elif requests != nginx:
    failed.append("loadprobe counted %d requests, nginx logged %d (difference %+d)"
                  % (requests, nginx, requests - nginx))
if None not in (arrivals, requests, dropped) and arrivals != requests + dropped:
    failed.append("loadprobe's accounting: arrivals %d != requests %d + dropped %d"
                  % (arrivals, requests, dropped))
if kv["run_ok"] != "1":
    failed.append("loadprobe did not run the whole way")
failed += [n for n in notes if "killed" in n]

def mb(kb):
    return "–" if kb is None else "%.2f MB (%d kB)" % (kb / 1024, kb)
def num(x, fmt="{:.0f}"):
    return "–" if x is None else fmt.format(x)

steady = None
if base and end and end["lines"] > base["lines"]:
    steady = (end["cpu"] - base["cpu"]) / (end["lines"] - base["lines"]) * 1e5
whole = (user + sys_) / nginx * 1e5 if user is not None and nginx else None
achieved = nginx / duration
post = kv.get("post_run", "").split()
max_fds = max((s["fds"] for s in samples), default=None)

L = []
L.append("# Soak: loadprobe at %d arrivals/s for %d min against nginx on loopback" % (rate, minutes))
L.append("")
L.append("**%s**%s" % ("PASS" if not failed else "FAIL",
                        "" if not failed else ": " + "; ".join(failed)))
L.append("")
L.append("| figure | value |")
L.append("|---|---|")
L.append("| resident memory (VmRSS) at minute %d | %s |" % (base_min, mb(base and base["rss"])))
L.append("| resident memory at the end (minute %d) | %s |" % (minutes, mb(end and end["rss"])))
L.append("| growth minute %d → %d (must stay under %g %%) | **%s** |"
         % (base_min, minutes, limit, num(growth, "{:+.2f} %")))
def part(key):
    if not (base and end and base[key]):
        return "–"
    return "%d → %d kB (%+.2f %%)" % (base[key], end[key], (end[key] - base[key]) / base[key] * 100)
L.append("| of which RssAnon (heap, stacks), minute %d → %d | %s |" % (base_min, minutes, part("anon")))
L.append("| of which RssFile (pages of the binary and libraries), minute %d → %d | %s |" % (base_min, minutes, part("file")))
L.append("| peak RSS (`/usr/bin/time` %%M) / max sampled VmRSS | %s / %s |" % (mb(peak_kb), mb(max_sampled)))
if len(post) >= 3:
    L.append("| VmRSS once the run was over (idle) | %s |" % mb(int(post[0])))
L.append("| CPU s per 100k requests, whole process (user+sys, incl. start-up and idle tail) | %s (user %s, sys %s s in all) |"
         % (num(whole, "{:.2f}"), num(user, "{:.2f}"), num(sys_, "{:.2f}")))
L.append("| CPU s per 100k requests, minute %d → %d (from /proc/PID/stat) | %s |"
         % (base_min, minutes, num(steady, "{:.2f}")))
L.append("| open fds of loadprobe, max sampled (connections to nginx + listeners) | %s |" % num(max_fds))
L.append("| arrivals planned (rate × duration) | %d |" % planned)
L.append("| arrivals (loadprobe_arrivals_total) | %s |" % num(arrivals))
L.append("| arrivals dropped (loadprobe_arrivals_dropped_total) | %s |" % num(dropped))
L.append("| requests loadprobe counted (loadprobe_requests_total) | %s |" % num(requests))
L.append("| requests nginx logged (access log, ground truth) | %d |" % nginx)
L.append("| **difference loadprobe − nginx** | **%s** |"
         % ("–" if requests is None else "%+d" % (requests - nginx)))
L.append("| achieved rate (nginx lines / %d s), deviation from plan | %.2f /s (%+.3f %%) |"
         % (duration, achieved, (nginx - planned) / planned * 100))
L.append("| failed requests (loadprobe) / non-200 at nginx | %s / %s |" % (num(failures), kv["nginx_non200"]))
L.append("| mean latency / p50 / p99 of the run, ms (from intended arrival) | %s / %s / %s |"
         % (num(lat_mean, "{:.2f}"), num(p50, "{:.2f}"), num(p99, "{:.2f}")))
L.append("| mean schedule lag, ms | %s |" % num(lag_mean, "{:.2f}"))
L.append("| iterations started more than 5 ms / 25 ms late (`loadprobe_schedule_lag_seconds`) | %s / %s |"
         % (num(late_over(0.005)), num(late_over(0.025))))
gaps = kv.get("nginx_gaps", "")
L.append("| longest pauses in nginx's log (ms @ s into the run), and how many of 5 ms or more | %s |"
         % (gaps.replace(" count=", "; count ") if gaps else "–"))
L.append("| nginx worker CPU (busy %% of one core) | %.1f %% |" % (float(kv["nginx_cpu_s"]) / duration * 100))
L.append("| load average (1/5/15 min) at start → end | %s → %s |" % (kv["loadavg_start"], kv["loadavg_end"]))
L.append("")
if notes:
    L += ["Notes:", ""] + ["- " + n for n in notes] + [""]
L.append("## Setup")
L.append("")
L.append("- date: %s; commit: %s; loadprobe: %s" % (kv["date"], kv["commit"], kv["loadprobe"]))
L.append("- machine: %s; nginx %s, 1 worker on CPU %s, static file /ok; loadprobe on CPU %s"
         % (kv["machine"], kv["nginx"], kv["target_cpu"], kv["gen_cpu"]))
L.append("- command: `taskset -c %s /usr/bin/time -f '%%U %%S %%M %%e' loadprobe --config.file=loadprobe.yml "
         "--web.listen-address=127.0.0.1:PORT --log.level=warn%s`"
         % (kv["gen_cpu"], (" " + kv["extra_args"]) if kv["extra_args"] else ""))
L.append("- VmRSS (`/proc/PID/status`) and user+sys CPU (`/proc/PID/stat`, all threads) every %d s; "
         "the counts from one scrape of `/metrics` once `loadprobe_run_active` was 0 with nothing in flight, "
         "then SIGTERM. Other processes on the machine (builds) can raise the CPU figure: see the load average."
         % every)
L.append("- config (PORT = nginx's):")
L.append("")
L.append("```yaml")
L.append(read("config.public.yml").rstrip())
L.append("```")
L.append("")
L.append("## Every minute")
L.append("")
L.append("| minute | VmRSS kB | Δ vs minute %d | open fds | CPU s (cumulative) | nginx lines (cumulative) | rate over the minute /s | load avg (1 min) |" % base_min)
L.append("|---|---|---|---|---|---|---|---|")
prev = {"lines": 0}
for s in samples:
    if s["t"] % 60:
        continue
    d = "–" if not base or s["t"] < base_min * 60 else "%+.2f %%" % ((s["rss"] - base["rss"]) / base["rss"] * 100)
    L.append("| %d | %d | %s | %d | %.2f | %d | %.1f | %s |"
             % (s["t"] // 60, s["rss"], d, s["fds"], s["cpu"], s["lines"], (s["lines"] - prev["lines"]) / 60, s["la"]))
    prev = s
if base:
    later = [s["rss"] for s in samples if s["t"] >= base_min * 60]
    L.append("")
    L.append("From minute %d on, VmRSS stayed within %d–%d kB over %d samples (every %d s)."
             % (base_min, min(later), max(later), len(later), every))
L.append("")
L.append("<details><summary>Every sample (%d s)</summary>" % every)
L.append("")
L.append("| t s | VmRSS kB | RssAnon kB | RssFile kB | open fds | CPU s | nginx lines | load avg (1 min) |")
L.append("|---|---|---|---|---|---|---|---|")
for s in samples:
    L.append("| %d | %d | %d | %d | %d | %.2f | %d | %s |"
             % (s["t"], s["rss"], s["anon"], s["file"], s["fds"], s["cpu"], s["lines"], s["la"]))
L.append("")
L.append("</details>")
report = "\n".join(L) + "\n"
with open(out, "w", encoding="utf-8") as f:
    f.write(report)
print(report)
sys.exit(1 if failed else 0)
PY
log "written $OUT"
exit "$rc"
