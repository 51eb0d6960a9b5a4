#!/usr/bin/env python3
"""Reports of bench/run.sh's fixed, closed, truth and footprint scenarios, and the summary of
`bench/run.sh all` (Python 3 standard library only).

Each leg directory (see bench/scenarios/common.sh) holds leg.txt (key=value), time.txt
(/usr/bin/time -f '%U %S %M %e'), rss_max_kb(.series), stdout and stderr of the tool, and
per scenario: stall.json (truth: the stall server's record), scrapes.txt and scrape.txt
(footprint).

Subcommands:
  fixed|closed|truth|footprint --legs DIR --out FILE.md --json FILE.json [--setup FILE.md]
      median (min–max) per tool (and rate) of every figure, then every leg's raw figures
  doc --fixed J --closed J --truth J --footprint J --chart SVG --doc MD --out FILE.md
      the chart (CPU per 100k requests against rate), the tables between the markers
      <!-- bench:tables:begin --> and <!-- bench:tables:end --> of MD, the ratios
      loadprobe/oha, loadprobe/hey, loadprobe/wrk and the goals of issue #11 (printed)
"""

import argparse
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize import read  # noqa: E402
from legs import PCTS, load_legs, nearest_rank  # noqa: E402

PCT_LABEL = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p999": "p99.9"}
TOOL_LABEL = {"oha_corr": "oha --latency-correction", "hey_even": "hey -c 1 (evenly spaced)",
              "loadprobe_bursts": "loadprobe in hey's bursts"}


# ---------------------------------------------------------------- statistics and cells

def stat(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def fmt_num(v, digits=None):
    if v is None:
        return "–"
    if digits is not None:
        return "%.*f" % (digits, v)
    a = abs(v)
    if a >= 1000:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 10:
        return "%.2f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


def cell(st, digits=None, bold=False):
    if not st:
        return "–"
    med, lo, hi = (fmt_num(st[k], digits) for k in ("median", "min", "max"))
    m = "**%s**" % med if bold else med
    return m if lo == hi else "%s (%s–%s)" % (m, lo, hi)


def group(legs, keys, figure_keys):
    """{group key tuple: {figure: stat}} over completed legs (rc 0)."""
    out = {}
    for leg in legs:
        if leg["rc"] != "0":
            continue
        k = tuple(leg.get(x) for x in keys)
        out.setdefault(k, []).append(leg)
    return {k: {f: stat([l.get(f) for l in ls]) for f in figure_keys} | {"_legs": len(ls)}
            for k, ls in out.items()}


def tool_order(legs, pref=("loadprobe", "oha", "oha_corr", "hey_even", "loadprobe_bursts", "hey",
                           "wrk")):
    seen = {l["tool"] for l in legs}
    return [t for t in pref if t in seen] + sorted(seen - set(pref))


def failures(legs):
    return ["leg %s (%s #%d) did not complete: rc=%s %s" % (l["leg"], l["tool"], l["rep"], l["rc"],
                                                            "; ".join(l["notes"]))
            for l in legs if l["rc"] != "0"]


def leg_notes(legs):
    return ["%s #%d: %s" % (l["leg"], l["rep"], n) for l in legs for n in l["notes"] if l["rc"] == "0"]


def commands(legs):
    seen, out = set(), []
    for l in legs:
        key = (l["tool"], re.sub(r"\d+(\.\d+)?", "N", l["cmd"]))
        if l["cmd"] and key not in seen:
            seen.add(key)
            out.append("- %s: `%s`" % (TOOL_LABEL.get(l["tool"], l["tool"]), l["cmd"]))
    return out


def write_outputs(args, title, body, groups_json, legs, extra_json=None):
    setup = read(args.setup).rstrip() if args.setup else ""
    md = ["## " + title, ""] + body
    md += ["", "### Setup", "", setup, "", "Commands (one leg each; URL = http://127.0.0.1:PORT/ok):", ""]
    md += commands(legs)
    fails = failures(legs)
    notes = leg_notes(legs)
    if fails or notes:
        md += ["", "### Notes", ""] + ["- " + x for x in fails + notes]
    text = "\n".join(md) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    data = {"title": title, "setup": setup, "groups": groups_json, "failed_legs": fails,
            "legs": [{k: v for k, v in l.items() if k != "rss_series"} for l in legs]}
    if extra_json:
        data.update(extra_json)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, default=str)
    print("\n".join(["## " + title, ""] + body))
    return 0   # failed legs are counted by run.sh (end_leg) and listed in the notes


def groups_to_json(groups, keys):
    return [dict(zip(keys, k)) | {"figures": {f: s for f, s in v.items() if f != "_legs"},
                                  "legs": v["_legs"]} for k, v in sorted(groups.items(), key=str)]


# ---------------------------------------------------------------- fixed

FIXED_FIGS = ["achieved", "deviation_pct", "cpu_per_100k", "user_per_100k", "peak_rss_mb",
              "p50_ms", "p99_ms", "requests", "nginx", "dropped", "errors", "nginx_non200",
              "nginx_busy_pct"]


def fixed_derive(legs):
    for l in legs:
        n, rate, dur = l.get("nginx"), l.get("rate"), l.get("duration")
        if n is not None and rate and dur:
            l["planned"] = rate * dur
            l["achieved"] = n / dur
            l["deviation_pct"] = (n - rate * dur) / (rate * dur) * 100
        if n and l.get("cpu_s") is not None:
            l["cpu_per_100k"] = l["cpu_s"] / n * 1e5
            l["user_per_100k"] = l["user_s"] / n * 1e5
            l["cpu_us_per_req"] = l["cpu_s"] / n * 1e6
            l["user_us_per_req"] = l["user_s"] / n * 1e6


def cmd_fixed(args):
    legs = load_legs(args.legs)
    fixed_derive(legs)
    g = group(legs, ("tool", "rate"), FIXED_FIGS)
    tools = tool_order(legs)
    rates = sorted({l["rate"] for l in legs if l.get("rate")})
    body = fixed_tables(g, tools, rates)
    body += ["", "### Every leg", "",
             "| leg | rc | rate/s | s | nginx lines | tool count | dropped | CPU s (user+sys) | peak RSS MB | p50 ms | p99 ms | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for l in legs:
        body.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            l["leg"], l["rc"], fmt_num(l.get("rate"), 0), fmt_num(l.get("duration"), 0),
            fmt_num(l.get("nginx"), 0), fmt_num(l.get("requests"), 0), fmt_num(l.get("dropped"), 0),
            fmt_num(l.get("cpu_s"), 2), fmt_num(l.get("peak_rss_mb"), 1), fmt_num(l.get("p50_ms"), 3),
            fmt_num(l.get("p99_ms"), 3), l["loadavg"]))
    dur = sorted({(l.get("rate"), l.get("duration")) for l in legs})
    title = "fixed rate: %s, median (min–max) of %d run(s), tools interleaved" % (
        ", ".join("%g/s for %g s" % d for d in dur if d[0]), max([l["rep"] for l in legs] or [0]))
    return write_outputs(args, title, body, groups_to_json(g, ("tool", "rate")), legs)


def fixed_tables(g, tools, rates):
    body = ["CPU = user+sys of the whole generator process (start-up included) per 100k requests "
            "that nginx logged; achieved rate = nginx's lines / duration; p50/p99 as each tool "
            "reports them (loadprobe: from the intended arrival instant; oha, hey: from their own send).",
            "",
            "| rate/s | tool | achieved /s (deviation) | CPU s per 100k | of which user | peak RSS MB | p50 ms | p99 ms | dropped / errors |",
            "|---|---|---|---|---|---|---|---|---|"]
    for rate in rates:
        for t in tools:
            s = g.get((t, rate))
            if not s:
                continue
            dev = s["deviation_pct"]
            ach = "%s (%s)" % (cell(s["achieved"], 1),
                               "–" if not dev else "%+.3f %%" % dev["median"] if dev["min"] == dev["max"]
                               else "%+.3f…%+.3f %%" % (dev["min"], dev["max"]))
            de = "%s / %s" % (fmt_num(s["dropped"]["max"], 0) if s["dropped"] else "–",
                              fmt_num(s["errors"]["max"], 0) if s["errors"] else "–")
            body.append("| %g | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                rate, TOOL_LABEL.get(t, t), ach, cell(s["cpu_per_100k"], 2, t.startswith("loadprobe")),
                cell(s["user_per_100k"], 2), cell(s["peak_rss_mb"], 1), cell(s["p50_ms"], 3),
                cell(s["p99_ms"], 3), de))
    return body


# ---------------------------------------------------------------- closed

CLOSED_FIGS = ["achieved", "cpu_us_per_req", "user_us_per_req", "peak_rss_mb", "p50_ms", "p99_ms",
               "requests", "nginx", "dropped", "errors", "nginx_busy_pct", "reported_rate"]


def cmd_closed(args):
    legs = load_legs(args.legs)
    for l in legs:
        l.pop("planned", None)
    fixed_derive(legs)
    g = group(legs, ("tool",), CLOSED_FIGS)
    tools = tool_order(legs)
    body = closed_table(g, tools)
    body += ["", "### Every leg", "",
             "| leg | rc | nginx lines | tool count | dropped | CPU s | peak RSS MB | nginx busy % | load avg |",
             "|---|---|---|---|---|---|---|---|---|"]
    for l in legs:
        body.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            l["leg"], l["rc"], fmt_num(l.get("nginx"), 0), fmt_num(l.get("requests"), 0),
            fmt_num(l.get("dropped"), 0), fmt_num(l.get("cpu_s"), 2), fmt_num(l.get("peak_rss_mb"), 1),
            fmt_num(l.get("nginx_busy_pct"), 0), l["loadavg"]))
    d = legs[0].get("duration") if legs else 0
    c = legs[0].get("conns") if legs else 0
    title = "closed loop: %g connections, %g s, median (min–max) of %d run(s), tools interleaved" % (
        c or 0, d or 0, max([l["rep"] for l in legs] or [0]))
    return write_outputs(args, title, body, groups_to_json(g, ("tool",)), legs)


def closed_table(g, tools):
    label = {"loadprobe": "loadprobe (rate above one core, max_in_flight 32)", "wrk": "wrk -t1 -c32",
             "oha": "oha -c32 --worker-threads 1", "hey": "hey -c32, GOMAXPROCS=1"}
    body = ["req/s = requests nginx logged / duration; µs CPU = user+sys of the generator per request.",
            "",
            "| tool | req/s | µs CPU per request | of which user | peak RSS MB | nginx core busy % | p50 / p99 ms (tool's own) |",
            "|---|---|---|---|---|---|---|"]
    for t in tools:
        s = g.get((t,))
        if not s:
            continue
        body.append("| %s | %s | %s | %s | %s | %s | %s / %s |" % (
            label.get(t, t), cell(s["achieved"], 0), cell(s["cpu_us_per_req"], 2, t == "loadprobe"),
            cell(s["user_us_per_req"], 2), cell(s["peak_rss_mb"], 1), cell(s["nginx_busy_pct"], 0),
            fmt_num(s["p50_ms"]["median"] if s["p50_ms"] else None, 3),
            fmt_num(s["p99_ms"]["median"] if s["p99_ms"] else None, 3)))
    return body


# ---------------------------------------------------------------- truth

def stall_hold(t, period=5.0, a=2.0, b=3.0):
    phase = t % period
    return (t - phase + b) - t if a <= phase < b else 0.0


def truth_percentiles(rate, duration):
    """The open model's truth: arrival i at i/rate, held to 5k+3 inside [5k+2, 5k+3)."""
    n = int(round(rate * duration))
    lat = sorted(stall_hold(i / rate) for i in range(n))
    return n, {name: nearest_rank(lat, q) * 1e3 for name, q in PCTS}


def cmd_truth(args):
    legs = load_legs(args.legs)
    truth = {}
    for l in legs:
        rate, dur = l.get("rate"), l.get("duration")
        if rate and dur and rate not in truth:
            truth[rate] = truth_percentiles(rate, dur)
        raw = read(os.path.join(args.legs, l["leg"], "stall.json"))
        if raw.strip():
            recs = json.loads(raw)["records"]
            l["server_received"] = len(recs)
            held = sorted(b - a for a, b in recs)
            for name, q in PCTS:
                v = nearest_rank(held, q)
                l["server_" + name + "_ms"] = None if v is None else v * 1e3
            # Truth from the server's own record of arrivals (cross-check of the schedule):
            # the hold each arrival was given, as the stall rule says, for the arrivals it saw.
            rule = sorted(stall_hold(a) for a, _ in recs)
            for name, q in PCTS:
                v = nearest_rank(rule, q)
                l["rule_" + name + "_ms"] = None if v is None else v * 1e3
        if rate in truth:
            l["scheduled"] = truth[rate][0]
            for name, _ in PCTS:
                v, t = l.get(name + "_ms"), truth[rate][1][name]
                if v is not None and t:
                    l["err_" + name + "_pct"] = (v - t) / t * 100
    figs = ["requests", "server_received", "dropped", "arrivals", "errors", "cpu_s", "peak_rss_mb"]
    for name, _ in PCTS:
        figs += [name + "_ms", "err_" + name + "_pct", "server_" + name + "_ms", "rule_" + name + "_ms"]
    figs.append("max_ms")
    g = group(legs, ("rate", "tool"), figs)
    tools = tool_order(legs)
    rates = sorted(truth)
    body = truth_tables(g, tools, rates, {r: {"scheduled": truth[r][0], **truth[r][1]} for r in rates})
    body += ["", "### Every leg", "",
             "| leg | rc | rate | scheduled | server received | tool count | dropped | p90 | p95 | p99 | p99.9 | server-side p99 | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for l in legs:
        body.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            l["leg"], l["rc"], fmt_num(l.get("rate"), 0), fmt_num(l.get("scheduled"), 0),
            fmt_num(l.get("server_received"), 0), fmt_num(l.get("requests"), 0), fmt_num(l.get("dropped"), 0),
            fmt_num(l.get("p90_ms")), fmt_num(l.get("p95_ms")), fmt_num(l.get("p99_ms")),
            fmt_num(l.get("p999_ms")), fmt_num(l.get("server_p99_ms")), l["loadavg"]))
    title = "truth: a server that holds every request arriving in [5k+2, 5k+3) s until 5k+3 s; %s; median (min–max) of %d run(s)" % (
        ", ".join("%g/s for %g s" % (r, legs[0].get("duration", 0)) for r in rates),
        max([l["rep"] for l in legs] or [0]))
    return write_outputs(args, title, body, groups_to_json(g, ("rate", "tool")), legs,
                         {"truth": {str(r): {"scheduled": truth[r][0], **truth[r][1]} for r in rates}})


def truth_tables(g, tools, rates, truth):
    """truth: {rate: {"scheduled", "p50".. "p999"}} (ms)."""
    label = {"loadprobe": "loadprobe", "oha": "oha (default, no correction)",
             "oha_corr": "oha --latency-correction", "hey": "hey (per-request times, -o csv)",
             "wrk": "wrk -t1 -c20 (closed loop)"}
    body = ["Reported percentiles in ms, median (min–max) over the runs, and their error against "
            "the truth in % (of the median). *truth* = open model at the rate (arrival i at i/rate; "
            "latency 5k+3 − t inside a stall, else 0), nearest-rank percentiles. *sent* = requests "
            "the stall server received (its own record). loadprobe's figures are the `p90`, `p95`, "
            "`p99` and `p999` of its run report (exact, from an HDR histogram).", ""]
    for rate in rates:
        t = truth[rate]
        body += ["#### %g requests/s" % rate, "",
                 "| | sent (server) | tool's count | dropped | p90 | p95 | p99 | p99.9 |",
                 "|---|---|---|---|---|---|---|---|",
                 "| **truth** (schedule) | %d | | | %s | %s | %s | %s |" % (
                     t["scheduled"], *(fmt_num(t[k]) for k in ("p90", "p95", "p99", "p999")))]
        lp = g.get((rate, "loadprobe"))
        if lp and lp.get("rule_p90_ms"):
            body.append("| truth from the server's record of loadprobe's arrivals | %s | | | %s | %s | %s | %s |" % (
                cell(lp["server_received"], 0), *(cell(lp["rule_%s_ms" % k]) for k in ("p90", "p95", "p99", "p999"))))
        for tool in tools:
            s = g.get((rate, tool))
            if not s:
                continue
            cells = []
            for k in ("p90", "p95", "p99", "p999"):
                v, e = s.get(k + "_ms"), s.get("err_" + k + "_pct")
                if not v:
                    cells.append("not reported")
                    continue
                err = "" if not e else " (%+.0f %%)" % e["median"] if abs(e["median"]) >= 10 else " (%+.1f %%)" % e["median"]
                cells.append(cell(v) + err)
            body.append("| %s | %s | %s | %s | %s |" % (
                label.get(tool, tool), cell(s["server_received"], 0), cell(s["requests"], 0),
                cell(s["dropped"], 0) if s["dropped"] else "–", " | ".join(cells)))
        body.append("")
    return body


# ---------------------------------------------------------------- footprint

def cmd_footprint(args):
    legs = load_legs(args.legs)
    for l in legs:
        l["rss_end_mb"] = l["rss_end_kb"] / 1024 if l.get("rss_end_kb") else None
        ser = l.get("rss_series") or []
        if ser:
            l["rss_sampled_max_mb"] = max(v for _, v in ser) / 1024
            early = [v for t, v in ser if 5 <= t <= 10]
            late = [v for t, v in ser if t >= ser[-1][0] - 5]
            if early and late:
                l["rss_10s_mb"] = early[-1] / 1024
                l["rss_last_mb"] = late[-1] / 1024
                l["rss_growth_pct"] = (late[-1] - early[-1]) / early[-1] * 100
        raw = read(os.path.join(args.legs, l["leg"], "scrapes.txt"))
        times, sizes = [], []
        for line in raw.splitlines():
            p = line.split()
            if len(p) == 3 and p[2] == "200":
                times.append(float(p[0]) * 1e3)
                sizes.append(int(p[1]))
        if times:
            l["scrape_ms_median"] = statistics.median(times)
            l["scrape_ms_max"] = max(times)
            l["scrape_kb"] = statistics.median(sizes) / 1024
            l["scrapes"] = len(times)
        scrape = read(os.path.join(args.legs, l["leg"], "scrape.txt"))
        if scrape:
            l["series"] = len([x for x in scrape.splitlines() if x and not x.startswith("#")])
            l["metrics_kb"] = len(scrape.encode()) / 1024
        if l.get("nginx") and l.get("duration") and l["tool"] == "load":
            l["achieved"] = l["nginx"] / l["duration"]
    figs = ["rss_end_mb", "peak_rss_mb", "rss_sampled_max_mb", "rss_10s_mb", "rss_last_mb",
            "rss_growth_pct", "scrape_ms_median", "scrape_ms_max", "scrape_kb", "series",
            "metrics_kb", "threads", "cpu_s", "achieved"]
    g = group(legs, ("tool",), figs)
    body = footprint_table(g, legs)
    body += ["", "### Every leg", "",
             "| leg | rc | VmRSS at the end MB | peak RSS MB | VmRSS samples (s:MB) | scrape median / max ms | series |",
             "|---|---|---|---|---|---|---|"]
    for l in legs:
        ser = l.get("rss_series") or []
        step = max(1, len(ser) // 8)
        samples = " ".join("%d:%.1f" % (t, v / 1024) for t, v in ser[::step])
        body.append("| %s | %s | %s | %s | %s | %s / %s | %s |" % (
            l["leg"], l["rc"], fmt_num(l.get("rss_end_mb"), 2), fmt_num(l.get("peak_rss_mb"), 2),
            samples, fmt_num(l.get("scrape_ms_median"), 2), fmt_num(l.get("scrape_ms_max"), 2),
            fmt_num(l.get("series"), 0)))
    title = "footprint of loadprobe (the exporter, pinned to one CPU), median (min–max) of %d run(s)" % (
        max([l["rep"] for l in legs] or [0]))
    return write_outputs(args, title, body, groups_to_json(g, ("tool",)), legs)


def footprint_table(g, legs):
    def s(kind, fig):
        return (g.get((kind,)) or {}).get(fig)
    dur = {l["tool"]: l.get("duration") for l in legs}
    rate = next((l.get("rate") for l in legs if l["tool"] == "load"), None)
    probes = next((l.get("probes") for l in legs if l["tool"] == "metrics"), None)
    body = ["| figure | value |", "|---|---|",
            "| VmRSS idle, no probes (after %g s) | %s MB |" % (dur.get("idle") or 0, cell(s("idle", "rss_end_mb"), 2, True)),
            "| VmRSS with the demo config (config/loadprobe.yml, after %g s; peak) | %s MB (peak %s) |" % (
                dur.get("demo") or 0, cell(s("demo", "rss_end_mb"), 2, True), cell(s("demo", "peak_rss_mb"), 2)),
            "| VmRSS at %g/s: at 10 s → at the end (%g s); peak | %s → %s MB; peak %s |" % (
                rate or 0, dur.get("load") or 0, cell(s("load", "rss_10s_mb"), 2), cell(s("load", "rss_last_mb"), 2, True),
                cell(s("load", "peak_rss_mb"), 2)),
            "| growth of VmRSS at %g/s from 10 s to the end | %s %% |" % (rate or 0, cell(s("load", "rss_growth_pct"), 2)),
            "| achieved rate in that leg (nginx lines / %g s) | %s /s |" % (dur.get("load") or 0, cell(s("load", "achieved"), 0)),
            "| `/metrics` with %g probes × 3 steps: scrape time, median of each run's scrapes (max) | %s ms (max %s) |" % (
                probes or 0, cell(s("metrics", "scrape_ms_median"), 2, True), cell(s("metrics", "scrape_ms_max"), 2)),
            "| … its size, and its samples (lines) | %s KB, %s samples |" % (
                cell(s("metrics", "scrape_kb"), 0), cell(s("metrics", "series"), 0)),
            "| VmRSS with %g probes × 3 steps | %s MB |" % (probes or 0, cell(s("metrics", "rss_end_mb"), 2)),
            "| threads (idle / demo / load / 100 probes) | %s / %s / %s / %s |" % tuple(
                cell(s(k, "threads"), 0) for k in ("idle", "demo", "load", "metrics"))]
    return body


# ---------------------------------------------------------------- doc (all)

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("fixed", "closed", "truth", "footprint"):
        p = sub.add_parser(name)
        p.add_argument("--legs", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--json", required=True)
        p.add_argument("--setup")
    p = sub.add_parser("doc")
    for k in ("fixed", "closed", "truth", "footprint", "chart", "doc", "out"):
        p.add_argument("--" + k, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "doc":
        from report_doc import cmd_doc  # imports this module: only when asked for
        return cmd_doc(args)
    return {"fixed": cmd_fixed, "closed": cmd_closed, "truth": cmd_truth,
            "footprint": cmd_footprint}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
