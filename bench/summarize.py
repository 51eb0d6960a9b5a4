#!/usr/bin/env python3
"""Parsing and statistics helpers for bench/run.sh (Python 3 standard library only).

run.sh leaves one directory per leg (one run of one tool) with raw files:
  leg.txt      key=value lines written by run.sh (tool, rep, rc, nginx counts, ...)
  time.txt     bench/rusage.py's output, as /usr/bin/time -f '%U %S %M %e' (last line; a preceding
               "Command terminated by signal" line is tolerated)
  rss_max_kb   max VmRSS seen by the 1 Hz sampler
  scrape.txt   loadprobe's last /metrics scrape      (loadprobe legs)
  stdout       oha --output-format json / hey summary (oha, hey legs)

Subcommands:
  scrape-idle FILE   exit 0 when the scrape shows the probe's run finished
                     (loadprobe_run_active == 0 and no iteration in flight)
  report --legs DIR --rate R --duration D --out FILE.md [--meta FILE]
                     one markdown table: median (min–max) per figure and tool,
                     followed by every leg's raw figures
"""

import argparse
import json
import math
import os
import re
import statistics
import sys

PROBE = "bench"  # the probe name run.sh writes into loadprobe's config

# ---------------------------------------------------------------- Prometheus text

_SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """Samples of a Prometheus/OpenMetrics text scrape as (name, labels dict, float)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        line = line.split(" # ", 1)[0]  # OpenMetrics exemplar
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group("labels") or ""))
        try:
            value = float(m.group("value"))
        except ValueError:
            continue
        out.append((m.group("name"), labels, value))
    return out


def metric_sum(samples, name, probe=PROBE):
    """Sum of a metric over every label set of one probe, None when absent."""
    vals = [v for n, l, v in samples if n == name and l.get("probe") == probe]
    return sum(vals) if vals else None


def bucket_upper_bound(q, buckets):
    """Upper bound (le) of the bucket holding quantile q, from [(le, cumulative count)]."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    for le, count in buckets:
        if count >= rank:
            return le
    return math.inf


def loadprobe_report_percentiles(status_json):
    """Exact p50/p99 of the last finished run, from /api/v1/status (HDR histograms)."""
    if not status_json.strip():
        return {}
    import json
    for probe in json.loads(status_json).get("probes", []):
        report = probe.get("last_report") or {}
        if probe.get("name") == PROBE and report.get("steps"):
            step = report["steps"][0]
            return {"p50_ms": step["p50"] * 1e3, "p99_ms": step["p99"] * 1e3,
                    "pct_source": "last run report, /api/v1/status (exact)", "pct_coarse": False}
    return {}


def loadprobe_figures(scrape_text):
    s = parse_prometheus(scrape_text)
    fig = {
        "requests": metric_sum(s, "loadprobe_requests_total"),
        "dropped": metric_sum(s, "loadprobe_arrivals_dropped_total"),
        "arrivals": metric_sum(s, "loadprobe_arrivals_total"),
        "errors": metric_sum(s, "loadprobe_request_failures_total"),
    }
    # Exact means from the histograms' _sum/_count.
    for metric, key in (("loadprobe_request_duration_seconds", "mean_ms"),
                        ("loadprobe_schedule_lag_seconds", "lag_mean_ms")):
        total, count = metric_sum(s, metric + "_sum"), metric_sum(s, metric + "_count")
        if total is not None and count:
            fig[key] = total / count * 1e3
    # Exact percentiles of the last finished run, when loadprobe exports them.
    for p in ("p50", "p99"):
        vals = [v for n, l, v in s if n == "loadprobe_last_run_latency_seconds"
                and l.get("probe") == PROBE and l.get("percentile") == p]
        if vals:
            fig[p + "_ms"] = max(vals) * 1e3
            fig["pct_source"] = "last_run_latency_seconds (exact)"
    if "p50_ms" not in fig:
        # Fall back to the histogram (summed over steps). Interpolating inside a bucket
        # would invent precision (0–5 ms gives "2.5 ms"), so report the bucket's upper
        # bound, shown as "≤ X" in the table.
        per_le = {}
        for n, l, v in s:
            if n == "loadprobe_request_duration_seconds_bucket" and l.get("probe") == PROBE:
                le = float(l["le"].replace("+Inf", "inf"))
                per_le[le] = per_le.get(le, 0.0) + v
        for q, key in ((0.5, "p50_ms"), (0.99, "p99_ms")):
            v = bucket_upper_bound(q, list(per_le.items()))
            if v is not None:
                fig[key] = v * 1e3
                fig["pct_source"] = "request_duration_seconds histogram (bucket upper bound)"
                fig["pct_coarse"] = True
    return fig


def scrape_is_idle(text):
    s = parse_prometheus(text)
    active = metric_sum(s, "loadprobe_run_active")
    in_flight = metric_sum(s, "loadprobe_in_flight_iterations")
    return (active is None or active == 0) and (in_flight is None or in_flight == 0)


# ---------------------------------------------------------------- oha / hey output

def oha_figures(text):
    """oha --output-format json: summary, latencyPercentiles (seconds), status codes, errors."""
    d = json.loads(text)
    codes = d.get("statusCodeDistribution") or {}
    # "aborted due to deadline" are arrivals still waiting for their rate token at -z's
    # end: never sent, so neither requests nor errors.
    errors = {k: v for k, v in (d.get("errorDistribution") or {}).items()
              if "deadline" not in k}
    pct = d.get("latencyPercentiles") or {}
    fig = {"requests": sum(codes.values()) + sum(errors.values()),
           "errors": sum(errors.values())}
    avg = (d.get("summary") or {}).get("average")
    if avg is not None:
        fig["mean_ms"] = avg * 1e3
    for key in ("p50", "p99"):
        if pct.get(key) is not None:
            fig[key + "_ms"] = pct[key] * 1e3
    return fig


def hey_figures(text):
    """hey's text summary: 'NN% in X secs' lines and '[code] N responses'."""
    fig = {"requests": 0, "errors": 0}
    for m in re.finditer(r"^\s*\[\d+\]\s+(\d+) responses", text, re.M):
        fig["requests"] += int(m.group(1))
    # Errors are listed as '[N]\tGet "...": error' under "Error distribution:".
    err = text.split("Error distribution:", 1)
    if len(err) == 2:
        for m in re.finditer(r"^\s*\[(\d+)\]\s", err[1], re.M):
            fig["errors"] += int(m.group(1))
    fig["requests"] += fig["errors"]
    m = re.search(r"^\s*Average:\s+([0-9.]+) secs", text, re.M)
    if m:
        fig["mean_ms"] = float(m.group(1)) * 1e3
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s*%s%%+ in ([0-9.]+) secs" % pct, text, re.M)
        if m:
            fig[key] = float(m.group(1)) * 1e3
    return fig


# ---------------------------------------------------------------- one leg

def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return default


def read_kv(path):
    kv = {}
    for line in read(path).splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            kv[k.strip()] = v.strip()
    return kv


def leg_figures(leg_dir, rate, duration):
    kv = read_kv(os.path.join(leg_dir, "leg.txt"))
    tool = kv.get("tool", "?")
    fig = {"tool": tool, "rep": int(kv.get("rep", 0)), "rc": kv.get("rc", "?"),
           "note": kv.get("note", "")}
    planned = rate * duration
    fig["planned"] = planned

    n = kv.get("nginx_lines")
    nginx = int(n) if n not in (None, "") else None
    fig["nginx"] = nginx
    fig["nginx_non200"] = int(kv.get("nginx_non200", 0) or 0)
    if nginx is not None:
        fig["rate"] = nginx / duration
        fig["deviation_pct"] = (nginx - planned) / planned * 100 if planned else None
    if kv.get("nginx_cpu_s"):
        fig["nginx_busy_pct"] = float(kv["nginx_cpu_s"]) / duration * 100

    # /usr/bin/time: last line is "%U %S %M %e".
    lines = [l for l in read(os.path.join(leg_dir, "time.txt")).splitlines() if l.strip()]
    if lines:
        parts = lines[-1].split()
        try:
            user, sys_, maxrss_kb = float(parts[0]), float(parts[1]), float(parts[2])
            fig["cpu_s"] = user + sys_
            fig["user_s"] = user
            fig["peak_rss_mb"] = maxrss_kb / 1024
            if nginx:
                fig["cpu_per_100k"] = (user + sys_) / nginx * 1e5
                fig["user_per_100k"] = user / nginx * 1e5
        except (ValueError, IndexError):
            pass
    r = read(os.path.join(leg_dir, "rss_max_kb")).strip()
    if r.isdigit() and int(r) > 0:
        fig["vmrss_max_mb"] = int(r) / 1024

    try:
        if tool == "loadprobe":
            fig.update(loadprobe_figures(read(os.path.join(leg_dir, "scrape.txt"))))
            fig.update(loadprobe_report_percentiles(read(os.path.join(leg_dir, "status.json"))))
        elif tool == "oha":
            fig.update(oha_figures(read(os.path.join(leg_dir, "stdout"))))
        elif tool == "hey":
            fig.update(hey_figures(read(os.path.join(leg_dir, "stdout"))))
    except (ValueError, KeyError) as e:  # a failed leg leaves no (or broken) output
        fig["note"] = (fig["note"] + " output unparsable: %s" % e).strip()
    return fig


# ---------------------------------------------------------------- report

# (key, row label, format)
ROWS = [
    ("planned", "arrivals planned", "{:.0f}"),
    ("nginx", "requests nginx logged (ground truth)", "{:.0f}"),
    ("requests", "requests the tool counted", "{:.0f}"),
    ("rate", "achieved rate /s (nginx lines / duration)", "{:.1f}"),
    ("deviation_pct", "deviation from plan %", "{:+.2f}"),
    ("errors", "errors the tool reported", "{:.0f}"),
    ("nginx_non200", "non-200 responses at nginx", "{:.0f}"),
    ("dropped", "arrivals dropped (loadprobe's count)", "{:.0f}"),
    ("cpu_per_100k", "CPU s per 100k requests (user+sys)", "{:.2f}"),
    ("user_per_100k", "… of which user space", "{:.2f}"),
    ("peak_rss_mb", "peak RSS MB (time %M)", "{:.1f}"),
    ("vmrss_max_mb", "max VmRSS MB (1 Hz samples)", "{:.1f}"),
    ("mean_ms", "mean latency ms (tool's own)", "{:.3f}"),
    ("p50_ms", "p50 latency ms (tool's own)", "{:.3f}"),
    ("p99_ms", "p99 latency ms (tool's own)", "{:.3f}"),
    ("lag_mean_ms", "mean schedule lag ms (loadprobe's)", "{:.3f}"),
    ("nginx_busy_pct", "nginx worker CPU % of duration", "{:.1f}"),
]


def cell(values, fmt, prefix=""):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    med, lo, hi = (fmt.format(v) for v in (statistics.median(values), min(values), max(values)))
    if lo == hi:  # one run, or no spread at this precision
        return prefix + med
    return "%s%s (%s–%s)" % (prefix, med, lo, hi)


def report(args):
    legs = sorted(os.path.join(args.legs, d) for d in os.listdir(args.legs)
                  if os.path.isfile(os.path.join(args.legs, d, "leg.txt")))
    figs = [leg_figures(d, args.rate, args.duration) for d in legs]
    tools = []
    for f in figs:
        if f["tool"] not in tools:
            tools.append(f["tool"])

    out = []
    out.append("| figure | " + " | ".join(tools) + " |")
    out.append("|---|" + "---|" * len(tools))
    def coarse(t):  # percentiles only known to a histogram bucket
        legs_t = [f for f in figs if f["tool"] == t and f["rc"] == "0"]
        return bool(legs_t) and all(f.get("pct_coarse") for f in legs_t)
    for key, label, fmt in ROWS:
        row = [cell([f.get(key) for f in figs if f["tool"] == t and f["rc"] == "0"], fmt,
                    "≤ " if key in ("p50_ms", "p99_ms") and coarse(t) else "")
               for t in tools]
        out.append("| %s | %s |" % (label, " | ".join(row)))
    ok_counts = {t: sum(1 for f in figs if f["tool"] == t and f["rc"] == "0") for t in tools}
    all_counts = {t: sum(1 for f in figs if f["tool"] == t) for t in tools}
    out.append("| legs that completed | %s |" % " | ".join(
        "%d of %d" % (ok_counts[t], all_counts[t]) for t in tools))
    table = "\n".join(out)

    notes = []
    src = sorted({f.get("pct_source") for f in figs if f.get("pct_source")})
    if src:
        notes.append("loadprobe latencies are measured from the intended arrival instant; "
                     "percentiles from: " + ", ".join(src) + "; mean from the histogram's _sum/_count (exact).")
    notes.append("oha and hey percentiles are measured from their own send "
                 "(no latency correction), so they hide generator lag.")
    failed = [f for f in figs if f["rc"] != "0"]
    for f in failed:
        notes.append("leg %s #%d did not complete (rc=%s) %s" % (f["tool"], f["rep"], f["rc"], f["note"]))

    raw = ["| leg | rc | nginx lines | tool count | dropped | CPU s | peak RSS MB | p50 ms | p99 ms |",
           "|---|---|---|---|---|---|---|---|---|"]

    def fm(v, f="{:.3f}"):
        return "–" if v is None else f.format(v)
    for f in figs:
        raw.append("| %s #%d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            f["tool"], f["rep"], f["rc"], fm(f.get("nginx"), "{:.0f}"),
            fm(f.get("requests"), "{:.0f}"), fm(f.get("dropped"), "{:.0f}"),
            fm(f.get("cpu_s"), "{:.2f}"), fm(f.get("peak_rss_mb"), "{:.1f}"),
            ("≤ " if f.get("pct_coarse") else "") + fm(f.get("p50_ms")),
            ("≤ " if f.get("pct_coarse") else "") + fm(f.get("p99_ms"))))

    reps = max([f["rep"] for f in figs] or [0])
    title = "## core: %g arrivals/s for %g s, median (min–max) of %d run(s) per tool, tools interleaved" % (
        args.rate, args.duration, reps)
    md = [title, "", table, ""]
    md += ["- " + n for n in notes]
    if args.meta:
        md += ["", "### Setup", "", read(args.meta).rstrip()]
    md += ["", "### Every leg", ""] + raw
    text = "\n".join(md) + "\n"

    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    # stdout gets the summary only; the file has the setup and every leg too.
    print("\n".join([title, "", table, ""] + ["- " + n for n in notes]))
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("scrape-idle")
    p.add_argument("file")
    p = sub.add_parser("report")
    p.add_argument("--legs", required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out")
    p.add_argument("--meta")
    args = ap.parse_args(argv)
    if args.cmd == "scrape-idle":
        return 0 if scrape_is_idle(read(args.file)) else 1
    return report(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
