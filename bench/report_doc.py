"""`bench/report.py doc`: after `bench/run.sh all`, the ratios loadprobe/oha, loadprobe/hey and
loadprobe/wrk, the verdict on each goal of issue #11, the chart, and the tables between the
markers of docs/performance.md (Python 3 standard library only)."""

import json
import os
import re

import chart
from report import (PCT_LABEL, closed_table, fixed_tables, fmt_num, footprint_table, read,
                    tool_order, truth_tables)


def load_json(p):
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def gfig(data, fig, **match):
    for gr in data["groups"]:
        if all(gr.get(k) == v for k, v in match.items()):
            return (gr["figures"].get(fig) or {}).get("median")
    return None


def ratio(a, b):
    return None if a is None or not b else a / b


class Verdicts:
    """The ratio table's rows and each goal's verdict, in the order they are judged."""

    def __init__(self):
        self.lines = ["Ratios (medians of this run):", "",
                      "| figure | loadprobe/oha | loadprobe/hey | loadprobe/wrk |", "|---|---|---|---|"]
        self.goals = []

    def row(self, text):
        self.lines.append(text)

    def goal(self, ok, text):
        self.goals.append(("met" if ok else "NOT met" if ok is not None else "no data", text))

    def goal_lines(self):
        return ["| goal (issue #11) | result |", "|---|---|"] + [
            "| %s | %s |" % (t, "**%s**" % r if r != "met" else r) for r, t in self.goals]


def low_rate_goal(v, fixed, r, lp, oha, hey):
    """The sidecar-rate goal (CPU ≤ the lower of oha's and hey's), as the issue words it and
    like for like: `hey -c 50` sends bursts of 50 (its workers tick in step), loadprobe and
    oha spread arrivals evenly, so each shape is also compared with itself."""
    even = gfig(fixed, "cpu_per_100k", tool="hey_even", rate=r)
    bursts = gfig(fixed, "cpu_per_100k", tool="loadprobe_bursts", rate=r)
    low = min((x for x in (oha, hey) if x is not None), default=None)
    v.goal(None if lp is None or low is None else lp <= low,
           "CPU per request at %g/s ≤ the lower of oha's and hey's (as worded: loadprobe evenly "
           "spaced, hey in bursts): loadprobe %s, oha %s, hey %s s per 100k" % (
               r, fmt_num(lp, 2), fmt_num(oha, 2), fmt_num(hey, 2)))
    if even is None and bursts is None:
        return
    v.row("| same shape at %g/s: evenly spaced (hey -c 1) / in bursts (loadprobe bursts vs hey -c 50) | %s | %s / %s | – |" % (
        r, fmt_num(ratio(lp, oha), 2), fmt_num(ratio(lp, even), 2), fmt_num(ratio(bursts, hey), 2)))
    low_even = min((x for x in (oha, even) if x is not None), default=None)
    ok = None if None in (lp, low_even, bursts, hey) else lp <= low_even and bursts <= hey
    v.goal(ok, "same arrival shape at %g/s: evenly spaced, loadprobe %s ≤ min(oha %s, hey -c 1 %s); "
           "in bursts of 50, loadprobe %s ≤ hey -c 50 %s s per 100k" % (
               r, fmt_num(lp, 2), fmt_num(oha, 2), fmt_num(even, 2), fmt_num(bursts, 2), fmt_num(hey, 2)))


def fixed_verdicts(v, fixed):
    for r in sorted({gr["rate"] for gr in fixed["groups"]}):
        lp, oha, hey = (gfig(fixed, "cpu_per_100k", tool=t, rate=r) for t in ("loadprobe", "oha", "hey"))
        v.row("| CPU per request at %g/s | %s | %s | – |" % (r, fmt_num(ratio(lp, oha), 2), fmt_num(ratio(lp, hey), 2)))
        if r in (5000, 20000):
            v.goal(None if lp is None or oha is None else lp <= 0.7 * oha,
                   "CPU per request at %g/s ≤ 0.7 × oha's: loadprobe %s, oha %s s per 100k (ratio %s)" % (
                       r, fmt_num(lp, 2), fmt_num(oha, 2), fmt_num(ratio(lp, oha), 2)))
        elif r in (10, 100, 1000):
            low_rate_goal(v, fixed, r, lp, oha, hey)
    # achieved rate within 0.1 % at every rate, every run
    worst = None
    for l in fixed["legs"]:
        if l["tool"] == "loadprobe" and l.get("deviation_pct") is not None and l.get("rate", 0) <= 20000:
            if worst is None or abs(l["deviation_pct"]) > abs(worst[0]):
                worst = (l["deviation_pct"], l["rate"])
    v.goal(None if worst is None else abs(worst[0]) <= 0.1,
           "achieved rate within 0.1 %% of plan at every rate up to 20000/s, every run: worst %s" % (
               "–" if worst is None else "%+.3f %% at %g/s" % worst))


def closed_verdicts(v, closed):
    lpc, ohac, wrkc = (gfig(closed, "cpu_us_per_req", tool=t) for t in ("loadprobe", "oha", "wrk"))
    lpr, ohar, wrkr = (gfig(closed, "achieved", tool=t) for t in ("loadprobe", "oha", "wrk"))
    v.row("| closed loop: CPU per request | %s | – | %s |" % (fmt_num(ratio(lpc, ohac), 2), fmt_num(ratio(lpc, wrkc), 2)))
    v.row("| closed loop: req/s | %s | – | %s |" % (fmt_num(ratio(lpr, ohar), 2), fmt_num(ratio(lpr, wrkr), 2)))
    v.goal(None if lpc is None or ohac is None else lpc <= ohac,
           "closed loop: CPU per request ≤ oha's: loadprobe %s µs, oha %s µs" % (fmt_num(lpc, 2), fmt_num(ohac, 2)))
    v.goal(None if lpc is None or wrkc is None else lpc <= 1.25 * wrkc,
           "closed loop: CPU per request within 1.25 × wrk's: loadprobe %s µs, wrk %s µs (ratio %s)" % (
               fmt_num(lpc, 2), fmt_num(wrkc, 2), fmt_num(ratio(lpc, wrkc), 2)))
    v.goal(None if lpr is None or ohar is None else lpr >= ohar,
           "closed loop: req/s ≥ oha's: loadprobe %s, oha %s" % (fmt_num(lpr, 0), fmt_num(ohar, 0)))


def truth_verdicts(v, truth):
    for rate_s in sorted(truth.get("truth", {}), key=float):
        rate = float(rate_s)
        runs = [l for l in truth["legs"] if l["tool"] == "loadprobe" and l.get("rate") == rate and l["rc"] == "0"]
        errs = [(k, l.get("err_%s_pct" % k)) for l in runs for k in ("p90", "p95", "p99", "p999")]
        have = [(k, e) for k, e in errs if e is not None]
        missing = sorted({PCT_LABEL[k] for k, e in errs if e is None})
        worst_e = max(have, key=lambda x: abs(x[1])) if have else None
        v.goal(None if not have else all(abs(e) <= 5 for _, e in have),
               "stalls at %g/s: the percentiles loadprobe reports (%s) within 5 %% of the truth, every run: worst %s" % (
                   rate, ", ".join(PCT_LABEL[k] for k in ("p90", "p95", "p99", "p999") if PCT_LABEL[k] not in missing) or "none",
                   "–" if not worst_e else "%s %+.1f %%" % (PCT_LABEL[worst_e[0]], worst_e[1])))
        if missing:
            v.goal(False, "stalls at %g/s: %s within 5 %% of the truth: not in loadprobe's report" % (rate, ", ".join(missing)))
        acc = [(l.get("scheduled"), l.get("arrivals"), l.get("requests"), l.get("dropped"), l.get("server_received"))
               for l in runs]
        ok = bool(acc) and all(None not in (s, a, r, d, srv) and a == s and r + d == a and srv == r
                               for s, a, r, d, srv in acc)
        v.goal(ok if acc else None, "stalls at %g/s: every scheduled request sent or counted as dropped (scheduled, arrivals, requests, dropped, server received per run: %s)" % (
            rate, "; ".join("/".join(fmt_num(x, 0) for x in a) for a in acc)))


def footprint_verdicts(v, foot):
    idle = gfig(foot, "rss_end_mb", tool="idle")
    load_last = gfig(foot, "rss_last_mb", tool="load")
    load_peak = gfig(foot, "peak_rss_mb", tool="load")
    growth = gfig(foot, "rss_growth_pct", tool="load")
    scrape = gfig(foot, "scrape_ms_median", tool="metrics")
    scrape_max = gfig(foot, "scrape_ms_max", tool="metrics")
    v.goal(None if idle is None else idle <= 10, "resident memory idle ≤ 10 MB: %s MB" % fmt_num(idle, 2))
    v.goal(None if load_peak is None else load_peak <= 30,
           "resident memory at 20000/s ≤ 30 MB: peak %s MB (VmRSS at the end %s MB)" % (fmt_num(load_peak, 2), fmt_num(load_last, 2)))
    v.goal(None if growth is None else abs(growth) < 2,
           "resident memory flat over the leg at 20000/s (10 s → end, < 2 %%): %s %%" % fmt_num(growth, 2))
    v.goal(None if scrape is None else scrape < 5,
           "/metrics for 100 probes × 3 steps in under 5 ms: median %s ms (slowest of a run, median over runs: %s ms)" % (
               fmt_num(scrape, 2), fmt_num(scrape_max, 2)))


def write_chart(path, fixed):
    series = {}
    for gr in fixed["groups"]:
        v = (gr["figures"].get("cpu_per_100k") or {})
        if v.get("median") is not None:
            series.setdefault(gr["tool"], []).append((gr["rate"], v["median"], v["min"], v["max"]))
    with open(path, "w", encoding="utf-8") as f:
        f.write(chart.cpu_chart(series, title="CPU seconds per 100k requests against rate (lower is better)"))


def doc_tables(args, data, v):
    fixed, closed, truth, foot = data
    chart_rel = os.path.relpath(args.chart, os.path.dirname(os.path.abspath(args.doc)))
    return (["### Fixed rate", ""] + fixed_tables_from_json(fixed) + [""]
            + ["![CPU seconds per 100k requests against rate, one line per tool](%s)" % chart_rel, ""]
            + ["### Closed loop", ""] + closed_table_from_json(closed) + [""]
            + ["### Truthfulness under stalls", ""] + truth_tables_from_json(truth) + [""]
            + ["### Footprint", ""] + footprint_from_json(foot) + [""]
            + ["### Ratios and goals", ""] + v.lines + [""] + v.goal_lines())


def write_doc(args, stamp, setup, tables):
    """Replaces what lies between the markers of args.doc (or appends the block)."""
    raw = ["", "Raw reports of this run (every leg, the setup, the exact commands): " + ", ".join(
        "[%s](../bench/results/%s)" % (os.path.basename(p).replace(".json", ".md"), os.path.basename(p).replace(".json", ".md"))
        for p in (args.fixed, args.closed, args.truth, args.footprint)) + "."]
    setup = ["Setup of this run (from the reports):", "", setup]
    block = "\n".join(["<!-- bench:tables:begin (written by bench/run.sh all, run %s) -->" % stamp, ""] + setup + [""] + tables + raw
                      + ["", "<!-- bench:tables:end -->"])
    doc = read(args.doc)
    m = re.search(r"<!-- bench:tables:begin.*?<!-- bench:tables:end -->", doc, re.S)
    doc = doc[:m.start()] + block + doc[m.end():] if m else doc.rstrip() + "\n\n" + block + "\n"
    with open(args.doc, "w", encoding="utf-8") as f:
        f.write(doc)


def cmd_doc(args):
    data = tuple(load_json(p) for p in (args.fixed, args.closed, args.truth, args.footprint))
    fixed, closed, truth, foot = data
    v = Verdicts()
    fixed_verdicts(v, fixed)
    closed_verdicts(v, closed)
    truth_verdicts(v, truth)
    footprint_verdicts(v, foot)
    write_chart(args.chart, fixed)
    tables = doc_tables(args, data, v)
    stamp = os.path.basename(args.fixed).replace("fixed-", "").replace(".json", "")
    write_doc(args, stamp, fixed.get("setup", ""), tables)
    summary = "\n".join(["## all: summary of run %s" % stamp, ""] + v.lines + [""] + v.goal_lines()) + "\n"
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(summary + "\n" + "\n".join(tables) + "\n")
    print(summary)
    return 0


def _groups(data, keys):
    out = {}
    for gr in data["groups"]:
        out[tuple(gr.get(k) for k in keys)] = dict(gr["figures"]) | {"_legs": gr["legs"]}
    return out


def fixed_tables_from_json(d):
    g = _groups(d, ("tool", "rate"))
    tools = tool_order([{"tool": k[0]} for k in g])
    rates = sorted({k[1] for k in g})
    return fixed_tables(g, tools, rates)


def closed_table_from_json(d):
    g = _groups(d, ("tool",))
    return closed_table(g, tool_order([{"tool": k[0]} for k in g]))


def truth_tables_from_json(d):
    g = _groups(d, ("rate", "tool"))
    truth = {float(r): v for r, v in d.get("truth", {}).items()}
    return truth_tables(g, tool_order([{"tool": k[1]} for k in g]), sorted(truth), truth)


def footprint_from_json(d):
    g = _groups(d, ("tool",))
    return footprint_table(g, d["legs"])
