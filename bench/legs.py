"""One leg of bench/run.sh (one run of one tool, a directory written by
bench/scenarios/common.sh) read into its figures: CPU and memory from time.txt and the RSS
samples, nginx's counts from leg.txt, and latency percentiles from each tool's own output
(loadprobe's JSON summary, oha's JSON, hey's summary or CSV, wrk's Lua report)."""

import json
import math
import os
import re

from summarize import hey_figures, read, read_kv

PCTS = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999))


def nearest_rank(sorted_values, q):
    """The q-quantile by nearest rank: the smallest value with at least q of the samples
    at or below it (what HDR histograms and most tools report)."""
    if not sorted_values:
        return None
    k = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(k, len(sorted_values)) - 1]


# ---------------------------------------------------------------- tool outputs

def loadprobe_once(text):
    """`loadprobe once --output json`: counts and the step's percentiles (seconds → ms).
    loadprobe reports p50, p90, p95, p99, p99.9 (`p999`, since 2026-11-23) and max."""
    d = json.loads(text)
    r = d["report"]
    c = r["counts"]
    fig = {"requests": c["requests"], "arrivals": c["arrivals"], "dropped": c["dropped"],
           "errors": c["errors"] + c.get("throttled", 0), "reported_rate": r["achieved_rate"]}
    if r.get("steps"):
        s = r["steps"][0]
        for k in ("p50", "p90", "p95", "p99", "p999", "max"):
            if s.get(k) is not None:
                fig[k + "_ms"] = s[k] * 1e3
    return fig


def oha_json(text):
    d = json.loads(text)
    codes = d.get("statusCodeDistribution") or {}
    errs = {k: v for k, v in (d.get("errorDistribution") or {}).items() if "deadline" not in k}
    fig = {"requests": sum(codes.values()) + sum(errs.values()), "errors": sum(errs.values()),
           "deadline_aborted": sum(v for k, v in (d.get("errorDistribution") or {}).items()
                                   if "deadline" in k)}
    pct = d.get("latencyPercentiles") or {}
    for key, name in (("p50", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99"),
                      ("p99.9", "p999"), ("p999", "p999")):
        if pct.get(key) is not None:
            fig[name + "_ms"] = pct[key] * 1e3
    s = d.get("summary") or {}
    if s.get("slowest") is not None:
        fig["max_ms"] = s["slowest"] * 1e3
    if s.get("requestsPerSec") is not None:
        fig["reported_rate"] = s["requestsPerSec"]
    return fig


def hey_text(text):
    fig = hey_figures(text)
    for pct, key in (("90", "p90_ms"), ("95", "p95_ms")):
        m = re.search(r"^\s*%s%%+ in ([0-9.]+) secs" % pct, text, re.M)
        if m:
            fig[key] = float(m.group(1)) * 1e3
    m = re.search(r"^\s*Slowest:\s+([0-9.]+) secs", text, re.M)
    if m:
        fig["max_ms"] = float(m.group(1)) * 1e3
    return fig


def hey_csv(text):
    """hey -o csv: one row per request, response-time (s) first, status code 7th."""
    times, errors = [], 0
    for line in text.splitlines()[1:]:
        parts = line.split(",")
        if len(parts) < 7:
            continue
        try:
            times.append(float(parts[0]))
            if parts[6].strip() != "200":
                errors += 1
        except ValueError:
            continue
    times.sort()
    fig = {"requests": len(times), "errors": errors}
    for name, q in PCTS:
        v = nearest_rank(times, q)
        if v is not None:
            fig[name + "_ms"] = v * 1e3
    if times:
        fig["max_ms"] = times[-1] * 1e3
    return fig


def _dur_ms(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]


def wrk_text(text):
    fig = {}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if m:
        fig["reported_rate"] = float(m.group(1))
    m = re.search(r"^\s*(\d+) requests in", text, re.M)
    if m:
        fig["requests"] = int(m.group(1))
    # --latency's distribution (50/75/90/99)
    for pct, key in (("50", "p50"), ("90", "p90"), ("99", "p99")):
        m = re.search(r"^\s+%s%%\s+([0-9.]+)(us|ms|s|m)\s*$" % pct, text, re.M)
        if m:
            fig[key + "_ms"] = _dur_ms(m.group(1), m.group(2))
    # bench/wrk_percentiles.lua (µs), when used: p50 p90 p95 p99 p99.9
    if "wrk-percentiles" in text:
        for name, _ in PCTS:
            m = re.search(r"^p%s (\d+)$" % PCT_LABEL[name][1:], text, re.M)
            if m:
                fig[name + "_ms"] = int(m.group(1)) / 1e3
        m = re.search(r"^errors (\d+)$", text, re.M)
        if m:
            fig["errors"] = int(m.group(1))
    m = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([0-9.]+)(us|ms|s|m)", text, re.M)
    if m:
        fig["max_ms"] = _dur_ms(m.group(1), m.group(2))
    return fig


# ---------------------------------------------------------------- one leg

def leg_figures(d):
    kv = read_kv(os.path.join(d, "leg.txt"))
    tool = kv.get("tool", "?")
    fig = {"leg": os.path.basename(d), "tool": tool, "rep": int(kv.get("rep", 0) or 0),
           "rc": kv.get("rc", "?"), "cmd": kv.get("cmd", ""),
           "notes": [l.split("=", 1)[1] for l in read(os.path.join(d, "leg.txt")).splitlines()
                     if l.startswith("note=")],
           "loadavg": "%s→%s" % (kv.get("loadavg_start", "?"), kv.get("loadavg_end", "?"))}
    for k in ("rate", "duration", "conns", "probes"):
        try:
            fig[k] = float(kv[k])
        except (KeyError, ValueError):
            pass
    n = kv.get("nginx_lines")
    fig["nginx"] = int(n) if n not in (None, "") else None
    fig["nginx_non200"] = int(kv.get("nginx_non200", 0) or 0)
    if kv.get("nginx_cpu_s") and fig.get("duration"):
        fig["nginx_busy_pct"] = float(kv["nginx_cpu_s"]) / fig["duration"] * 100
    for k in ("rss_end_kb", "threads"):
        if kv.get(k, "").isdigit():
            fig[k] = int(kv[k])
    lines = [l for l in read(os.path.join(d, "time.txt")).splitlines() if l.strip()]
    if lines:
        try:
            u, s, m, e = lines[-1].split()[:4]
            fig.update(user_s=float(u), sys_s=float(s), cpu_s=float(u) + float(s),
                       peak_rss_mb=int(m) / 1024, wall_s=float(e))
        except ValueError:
            pass
    r = read(os.path.join(d, "rss_max_kb")).strip()
    if r.isdigit() and int(r) > 0:
        fig["vmrss_max_mb"] = int(r) / 1024
    series = []
    for l in read(os.path.join(d, "rss_max_kb.series")).splitlines():
        p = l.split()
        if len(p) == 2 and p[0].isdigit() and p[1].isdigit():
            series.append((int(p[0]), int(p[1])))
    fig["rss_series"] = series
    out = read(os.path.join(d, "stdout"))
    try:
        if tool in ("loadprobe", "loadprobe_bursts"):
            fig.update(loadprobe_once(out))
        elif tool in ("oha", "oha_corr"):
            fig.update(oha_json(out))
        elif tool in ("hey", "hey_even"):
            fig.update(hey_csv(out) if out.startswith("response-time") else hey_text(out))
        elif tool == "wrk":
            fig.update(wrk_text(out))
    except (ValueError, KeyError, TypeError) as e:
        if tool in ("loadprobe", "loadprobe_bursts", "oha", "oha_corr", "hey", "hey_even", "wrk"):
            fig["notes"].append("output unparsable: %s" % e)
    return fig


def load_legs(legs_dir):
    dirs = sorted(os.path.join(legs_dir, x) for x in os.listdir(legs_dir)
                  if os.path.isfile(os.path.join(legs_dir, x, "leg.txt")))
    return [leg_figures(d) for d in dirs]
