#!/usr/bin/env bash
# scripts/replay-nginx.sh — end-to-end check of access-log replay against a real nginx.
#
#   scripts/replay-nginx.sh [LOADPROBE]      # default: target/debug/loadprobe
#
# 1. Starts a private nginx (own prefix and temp dirs in a temp dir, 127.0.0.1 on a free
#    port) that answers 200 from a static file at every path and logs one line per
#    request: `$request_method $request_uri`.
# 2. Runs `loadprobe once` on a temp copy of config/examples/replay.yml, with its log
#    copied beside it, the `demo:` section removed, the target's url pointed at nginx,
#    `loop: false`, and a `speed` at which the two closest requests of the log are
#    GAP_MS (10) ms apart, so they reach nginx in order (the run takes about 10 s).
# 3. Compares nginx's access log, line by line, with the log as the replay reads it:
#    parseable lines only, GET and HEAD only (plus `allow_methods`), the config's
#    `methods`, `path_regex`, `from` and `to` filters, sorted by time. The methods and
#    paths must be the same, in the same order. Also checks that loadprobe logged the
#    unparseable lines (the first 5) with their line numbers, and that its own report
#    counts every request as a success.
#
# Prints a one-line summary; exits non-zero on any difference, showing when each request
# around the first one reached nginx and on which connection. Installs nginx-light when
# nginx is missing (apt-get, as root). KEEP_TMP=1 keeps the temp dir; GAP_MS=N sets the
# spacing.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXAMPLE=$REPO_DIR/config/examples/replay.yml
# Milliseconds between the two closest requests of the log, once scaled by `speed`. 5 ms
# keeps the order on an idle machine. On a busy one, two arrivals that come due in one
# late wake-up of loadprobe's scheduler can start in reverse order: with another process
# keeping one of 2 CPUs busy, 2 of 4 runs failed at 5 ms and none of 5 at 10 ms (at a
# load average of 4 on 2 CPUs, 1 run in about 10 failed at 10 ms). Hence 10 (8.5 s for
# replay.yml).
GAP_MS=${GAP_MS:-10}

log() { printf '[replay-nginx] %s\n' "$*" >&2; }
die() { printf '[replay-nginx] FAIL: %s\n' "$*" >&2; exit 1; }

LOADPROBE=${1:-$REPO_DIR/target/debug/loadprobe}
[[ $LOADPROBE == /* ]] || LOADPROBE=$PWD/$LOADPROBE
[[ -x $LOADPROBE ]] || die "no loadprobe binary at $LOADPROBE (cargo build, or pass its path)"
for t in python3 curl; do command -v "$t" >/dev/null || die "$t is required"; done

if ! command -v nginx >/dev/null; then
  [[ $(id -u) -eq 0 ]] || die "nginx is missing; install nginx-light (needs root)"
  log "installing nginx-light"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi

TMP=$(mktemp -d /tmp/loadprobe-replay.XXXXXX)
NGINX_PID=""
cleanup() {
  local rc=$?
  if [[ -n $NGINX_PID ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true   # fast shutdown of master + worker
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # so that the EXIT trap runs on Ctrl-C too

# ---------------------------------------------------------------- the helper

# prepare EXAMPLE OUT_DIR URL GAP_MS: writes OUT_DIR/replay.yml (the adapted copy), the
#   log beside it, OUT_DIR/expected.txt (`METHOD URI` per request, in replay order), and
#   prints shell assignments: PROBE SPEED DURATION_MS EXPECTED BAD_LINES ...
# compare EXPECTED ACTUAL TIMED: line by line; prints the first difference (with when each
#   request around it reached nginx, and on which connection) and exits 1.
cat > "$TMP/replay_check.py" <<'PY'
import datetime
import os
import re
import shutil
import sys

# The combined format as src/plan/replay.rs reads it.
COMBINED = re.compile(r'^\S+ \S+ \S+ \[([^\]]+)\] "([A-Z]+) (\S+)(?: [^"]*)?" \d{3} ')


def fail(message):
    print(f"[replay-nginx] FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def scalar(text):
    """A YAML scalar as this example writes it: quoted, or bare up to a comment."""
    text = text.strip()
    if text[:1] == "'":
        end = re.match(r"'((?:[^']|'')*)'", text)
        return end.group(1).replace("''", "'") if end else fail(f"cannot read {text}")
    if text[:1] == '"':
        end = re.match(r'"((?:[^"\\]|\\.)*)"', text)
        return end.group(1) if end else fail(f"cannot read {text}")
    return re.split(r"\s+#", text, maxsplit=1)[0].strip()


def flow_list(text):
    text = scalar(text)
    if not (text.startswith("[") and text.endswith("]")):
        fail(f"expected a [flow, list], got {text}")
    return [m.strip().strip("'\"").upper() for m in text[1:-1].split(",") if m.strip()]


def rfc3339(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def replay_block(lines):
    """(start, end) line indexes of the keys under `replay:`, and its indentation."""
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)replay:\s*(#.*)?$", line)
        if m:
            indent = len(m.group(1))
            end = i + 1
            while end < len(lines) and (
                not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
            ):
                end += 1
            return i + 1, end
    fail("no `replay:` block (in block style) in the example")


def prepare(example, out_dir, url, gap_ms):
    lines = open(example).read().split("\n")
    start, end = replay_block(lines)
    keys = {}
    key_indent = None
    for i in range(start, end):
        m = re.match(r"^(\s*)([a-z_]+):(.*)$", lines[i])
        if not m:
            continue
        if key_indent is None:
            key_indent = len(m.group(1))
        if len(m.group(1)) == key_indent:
            keys[m.group(2)] = (i, m.group(3))
    get = lambda k: scalar(keys[k][1]) if k in keys else None
    if (get("format") or "combined") != "combined":
        fail("this check reads combined-format logs only")
    if "rate" in keys:
        fail("replay.rate is set: this check replays at the log's own times (comment it out)")
    allowed = ["GET", "HEAD"] + (flow_list(keys["allow_methods"][1]) if "allow_methods" in keys else [])
    methods = flow_list(keys["methods"][1]) if "methods" in keys else []
    path_regex = re.compile(get("path_regex")) if "path_regex" in keys else None
    start_at = rfc3339(get("from")) if "from" in keys else None
    end_at = rfc3339(get("to")) if "to" in keys else None
    log_name = get("file") or fail("replay.file is missing")

    # The log, read as the replay reads it.
    kept, bad, not_allowed, filtered = [], [], 0, 0
    log_path = os.path.join(os.path.dirname(example), log_name)
    for number, line in enumerate(open(log_path, encoding="utf-8").read().splitlines(), 1):
        if not line.strip():
            continue
        m = COMBINED.match(line)
        at = None
        if m:
            try:
                at = datetime.datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z")
            except ValueError:
                pass
        if at is None or not m.group(3).startswith("/"):
            bad.append(number)
            continue
        method, path = m.group(2), m.group(3)
        if method not in allowed:
            not_allowed += 1
        elif (methods and method not in methods) or (path_regex and not path_regex.search(path)) \
                or (start_at and at < start_at) or (end_at and at >= end_at):
            filtered += 1
        else:
            kept.append((at, method, path))
    kept.sort(key=lambda k: k[0])  # stable, like the replay's sort
    if len(kept) < 2:
        fail(f"{log_name}: {len(kept)} entries to replay; need at least 2")
    gaps = [(b[0] - a[0]).total_seconds() for a, b in zip(kept, kept[1:])]
    if min(gaps) <= 0:
        fail(f"{log_name}: two entries logged in the same second go out together, "
             "so their order cannot be checked")
    speed = min(gaps) / (gap_ms / 1000.0)
    span = (kept[-1][0] - kept[0][0]).total_seconds() / speed

    # The adapted copy: no demo target, the url pointed at nginx, one pass at `speed`.
    out = list(lines)
    for key, value in (("speed", repr(speed)), ("loop", "false")):
        if key not in keys:
            fail(f"replay.{key} is missing from the example")
        i = keys[key][0]
        out[i] = re.sub(r"^(\s*" + key + r":\s*)[^#]*?(\s*(#.*)?)$", r"\g<1>" + value + r"\g<2>", out[i])
    urls = [i for i, l in enumerate(out) if re.match(r"^\s+url:\s*\S", l)]
    if len(urls) != 1:
        fail(f"expected one target url in the example, found {len(urls)}")
    out[urls[0]] = re.sub(r"^(\s+url:\s*)\S+", r"\g<1>" + url, out[urls[0]])
    demo = [i for i, l in enumerate(out) if re.match(r"^demo:", l)]
    for i in reversed(demo):
        j = i + 1
        while j < len(out) and (not out[j].strip() or out[j][:1] in " \t"):
            j += 1
        del out[i:j]
    names = [re.match(r"^\s*- name:\s*(\S+)", l) for l in out]
    names = [m.group(1) for m in names if m]
    if len(names) != 1:
        fail(f"expected one probe in the example, found {len(names)}")
    with open(os.path.join(out_dir, "replay.yml"), "w") as f:
        f.write("\n".join(out))
    shutil.copy(log_path, os.path.join(out_dir, log_name))
    with open(os.path.join(out_dir, "expected.txt"), "w") as f:
        f.writelines(f"{method} {path}\n" for _, method, path in kept)

    print(f"PROBE={names[0]}")
    print(f"SPEED={speed!r}")
    print(f"SPAN_MS={round(span * 1000)}")
    print(f"EXPECTED={len(kept)}")
    print(f"HEAD_COUNT={sum(1 for k in kept if k[1] == 'HEAD')}")
    print(f"BAD_LINES='{' '.join(map(str, bad))}'")
    print(f"NOT_ALLOWED={not_allowed}")
    print(f"FILTERED={filtered}")


def compare(expected_file, actual_file, timed_file):
    expected = open(expected_file).read().splitlines()
    actual = open(actual_file).read().splitlines()
    timed = [l.split(" ", 2) for l in open(timed_file).read().splitlines()]
    start = float(timed[0][0]) if timed else 0.0
    for i in range(max(len(expected), len(actual))):
        e = expected[i] if i < len(expected) else "(nothing)"
        a = actual[i] if i < len(actual) else "(nothing)"
        if e != a:
            print(f"[replay-nginx] request {i + 1} differs: expected `{e}`, nginx logged `{a}`",
                  file=sys.stderr)
            for j in range(max(0, i - 2), min(max(len(expected), len(actual)), i + 3)):
                when = (f"  at {float(timed[j][0]) - start:7.3f} s on connection {timed[j][1]}"
                        if j < len(timed) else "")
                print(f"  {j + 1:4}  expected {expected[j] if j < len(expected) else '-':36}"
                      f"  nginx {actual[j] if j < len(actual) else '-':36}{when}", file=sys.stderr)
            fail(f"{len(actual)} requests logged by nginx, {len(expected)} expected")


if __name__ == "__main__":
    {"prepare": lambda a: prepare(a[0], a[1], a[2], float(a[3])),
     "compare": lambda a: compare(a[0], a[1], a[2])}[sys.argv[1]](sys.argv[2:])
PY

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- nginx

start_nginx() {
  local d=$TMP/nginx
  mkdir -p "$d/html" "$d/logs" "$d/tmp"
  printf 'ok\n' > "$d/html/ok"
  # Started as root, nginx's worker runs as `nobody`: mktemp's 0700 would make it answer 403.
  chmod 755 "$TMP" "$d" "$d/html"; chmod 644 "$d/html/ok"
  NGINX_PORT=$(free_port)
  ACCESS_LOG=$d/logs/access.log
  cat > "$d/nginx.conf" <<EOF
daemon off;                       # this script owns the process: its pid is \$!
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 1024; }
http {
    default_type text/plain;
    # One line per request, written when it is answered: method and URI as received.
    log_format replay '\$request_method \$request_uri';
    access_log $ACCESS_LOG replay;
    # The same with time (s since the epoch) and connection, to explain a difference.
    log_format timed '\$msec \$connection \$request_method \$request_uri';
    access_log $d/logs/timed.log timed;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $d/html;
        # Every path (and query) answers 200 with the static file; HEAD gets its headers.
        location / { try_files /ok =404; }
    }
}
EOF
  # -e: the error log before the config is read (else /var/log/nginx/error.log).
  nginx -p "$d/" -c "$d/nginx.conf" -e "$d/logs/error.log" &
  NGINX_PID=$!
  local _ body=""
  for _ in $(seq 50); do
    body=$(curl -fsS "http://127.0.0.1:$NGINX_PORT/ready?check=1" 2>/dev/null) && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$d/logs/error.log" >&2; die "nginx exited"; }
    sleep 0.1
  done
  [[ $body == ok ]] || { cat "$d/logs/error.log" >&2; die "nginx does not answer"; }
  # Forget the readiness check (nginx keeps appending to the same files).
  : > "$ACCESS_LOG"; : > "$d/logs/timed.log"
}

# ---------------------------------------------------------------- main

start_nginx
mkdir -p "$TMP/run"
prepared=$(python3 "$TMP/replay_check.py" prepare "$EXAMPLE" "$TMP/run" \
  "http://127.0.0.1:$NGINX_PORT" "$GAP_MS")
eval "$prepared"   # PROBE SPEED SPAN_MS EXPECTED HEAD_COUNT BAD_LINES NOT_ALLOWED FILTERED
CONFIG=$TMP/run/replay.yml
"$LOADPROBE" --config.check --config.file="$CONFIG" >/dev/null 2>"$TMP/check.err" \
  || { cat "$TMP/check.err" >&2; die "the adapted copy of replay.yml does not pass --config.check"; }

# The run ends with the log (no loop); --duration only bounds it: the last request is due
# at SPAN_MS, and the run lasts its whole duration.
DURATION_MS=$((SPAN_MS + 1000))
log "nginx on 127.0.0.1:$NGINX_PORT; replaying $EXPECTED requests of $(basename "$EXAMPLE") at speed $SPEED (${SPAN_MS} ms)"
rc=0
"$LOADPROBE" once --config.file="$CONFIG" --probe="$PROBE" --duration="${DURATION_MS}ms" \
  --output=json > "$TMP/once.json" 2> "$TMP/once.err" || rc=$?
((rc == 0)) || { tail -n 20 "$TMP/once.err" >&2; cat "$TMP/once.json" >&2; die "loadprobe once exited $rc"; }
sleep 0.2   # nginx writes a line after its response: let the last one land

python3 "$TMP/replay_check.py" compare "$TMP/run/expected.txt" "$ACCESS_LOG" "$TMP/nginx/logs/timed.log"

# The unparseable lines: logged with their numbers (the first 5 of them).
logged=$(grep 'does not parse' "$TMP/once.err" | sed -n 's/.* line=\([0-9]*\).*/\1/p' | tr '\n' ' ' | sed 's/ $//')
want=$(tr ' ' '\n' <<< "$BAD_LINES" | sed '/^$/d' | head -n 5 | tr '\n' ' ' | sed 's/ $//')
[[ $logged == "$want" ]] || die "unparseable lines logged: '$logged', expected '$want'"

# loadprobe's own account of the run: every request sent, and a success.
read -r requests ok verdict < <(python3 - "$TMP/once.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["report"]
c = r["counts"]
print(c["requests"], c["responses_by_code"].get("200", 0), "pass" if r["success"] else "fail")
PY
) || die "cannot read the report of loadprobe once"
[[ $requests == "$EXPECTED" && $ok == "$EXPECTED" && $verdict == pass ]] \
  || die "loadprobe reported $requests requests ($ok answered 200, SLOs: $verdict), expected $EXPECTED 200s"

bad_count=$(wc -w <<< "$BAD_LINES")
echo "replay-nginx: OK: $EXPECTED requests ($((EXPECTED - HEAD_COUNT)) GET, $HEAD_COUNT HEAD) reached nginx with the logged methods and paths in log order (speed $SPEED, ${SPAN_MS} ms); $bad_count unparseable lines skipped and logged (lines $BAD_LINES), $NOT_ALLOWED other methods not replayed, $FILTERED filtered out"
