#!/usr/bin/env python3
"""Checks dashboards/ and alerts/ against a real Prometheus that scrapes loadprobe's demo.

Run by scripts/prometheus-e2e.sh, which starts loadprobe and Prometheus and cleans up.
Standard library only.

1. Every rule file in alerts/ is loaded (rule count as in the files) and every rule
   evaluates without error.
2. The dashboards follow our conventions (one `datasource` variable used by every panel,
   $__rate_interval in every rate, no __inputs), and every PromQL expression of
   dashboards/*.json (panel targets and variable queries) and of the rules parses and
   returns data: at least one sample with a finite value.
   - Dashboard variables are replaced by the regex `.+` (every value, as "All" does), and
     Grafana's interval variables by fixed windows.
   - An alert expression returns data only while it fires, so it is evaluated with every
     comparison made a `bool` comparison: that proves its inputs exist and join.
   - An expression may return no data only if it reads a metric of NOT_IMPLEMENTED.
3. After the demo target's latency is raised, LoadprobeLatencyAboveSLO becomes pending
   (or firing) for the probe `fast`, with its annotations rendered.
"""

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# Metrics that DESIGN.md names but loadprobe does not export yet. An expression that reads
# one of them may return no data; every other expression must. When one of them appears
# in the scrape, the check fails so that it is removed from here (and its panels and
# alerts are then checked like the others).
NOT_IMPLEMENTED: dict[str, str] = {
    # Every metric the dashboards and alerts read is implemented now; list one here (with
    # why) only while its feature is missing.
}

# Grafana's built-in interval variables, as a dashboard over the last hour would get them.
# $__rate_interval is 1m: long enough for a rate over the 1s-scraped demo, and the whole
# test fits in it, so scheduled probes (a 20s run a minute) are in every window.
GRAFANA_INTERVALS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__interval_ms": "15000",
}

# The probe of the demo whose latency SLO the raised latency breaks, and by how much.
LATENCY_PROBE = "fast"
RAISED_LATENCY = "400ms"

NAME_CHARS = r"[a-zA-Z0-9_:]"


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


def http_post(url, timeout=5.0):
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode()


class Prometheus:
    def __init__(self, base):
        self.base = base.rstrip("/")

    def api(self, path, **params):
        query = urllib.parse.urlencode(params)
        try:
            body = http_get(f"{self.base}/api/v1/{path}?{query}")
        except urllib.error.HTTPError as error:  # 400 with a JSON error body: bad PromQL
            body = json.loads(error.read().decode())
        return body

    def query(self, expr):
        """(error or None, number of finite samples) of an instant query."""
        body = self.api("query", query=expr)
        if body.get("status") != "success":
            return body.get("error", "query failed"), 0
        data = body["data"]
        if data["resultType"] == "vector":
            values = [float(s["value"][1]) for s in data["result"]]
        elif data["resultType"] == "scalar":
            values = [float(data["result"][1])]
        else:
            sys.exit(f"FAIL: {expr} gives a {data['resultType']}, not a vector or scalar")
        return None, sum(1 for v in values if math.isfinite(v))


def wait_until(what, check, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            sys.exit(f"FAIL: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def with_bool(expr):
    """`expr` with every comparison operator turned into a `bool` comparison.

    Operators inside label matchers ({...}) and strings are left alone."""
    out, i, braces, quote = [], 0, 0, None
    while i < len(expr):
        c = expr[i]
        if quote:
            out.append(c)
            if c == "\\":
                out.append(expr[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if c in "\"'`":
            quote = c
        elif c == "{":
            braces += 1
        elif c == "}":
            braces -= 1
        elif braces == 0:
            m = re.match(r"==|!=|>=|<=|>|<", expr[i:])
            if m:
                out.append(m.group(0))
                i += len(m.group(0))
                if not re.match(r"\s*bool\b", expr[i:]):
                    out.append(" bool")
                continue
        out.append(c)
        i += 1
    return "".join(out)


def substitute(expr, variables):
    """Grafana variables ($x, ${x}, ${x:fmt}, [[x]]) replaced for an instant query."""
    def value(name):
        if name in GRAFANA_INTERVALS:
            return GRAFANA_INTERVALS[name]
        if name in variables:
            return ".+"
        raise KeyError(f"unknown dashboard variable ${name} in: {expr}")

    expr = re.sub(r"\$\{(\w+)(?::\w+)?\}", lambda m: value(m.group(1)), expr)
    expr = re.sub(r"\[\[(\w+)\]\]", lambda m: value(m.group(1)), expr)
    return re.sub(r"\$(\w+)", lambda m: value(m.group(1)), expr)


def variable_query(query):
    """A Grafana Prometheus variable query as PromQL that has data when the variable has values."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query, re.S)
    if m:
        return f"group by ({m.group(2)}) ({m.group(1)})"
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", query, re.S)
    if m:
        return m.group(1)
    sys.exit(f"FAIL: unsupported variable query (use label_values or query_result): {query}")


def walk_panels(panels):
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))


def lint_dashboard(name, board):
    """The conventions every shipped dashboard follows (provisioning-ready classic JSON)."""
    problems = []
    if "__inputs" in board:
        problems.append("has __inputs (provisioning does not resolve them)")
    sources = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    if [v["name"] for v in sources] != ["datasource"]:
        problems.append("needs exactly one datasource variable, named `datasource`")
    for panel in walk_panels(board["panels"]):
        if panel["type"] == "row":
            continue
        for thing in [panel] + panel.get("targets", []):
            if thing.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"panel {panel['title']!r}: datasource is not ${{datasource}}")
        for target in panel.get("targets", []):
            for window in re.findall(r"\b(?:rate|irate|increase)\([^\[]*\[([^\]]*)\]", target.get("expr", "")):
                if window != "$__rate_interval":
                    problems.append(f"panel {panel['title']!r}: a rate over [{window}], not [$__rate_interval]")
    if problems:
        sys.exit(f"FAIL: {name}:\n  " + "\n  ".join(problems))


def dashboard_expressions(paths):
    """(where, PromQL) of every panel target and query variable of the dashboards."""
    found = []
    for path in paths:
        with open(path) as f:
            board = json.load(f)
        name = path.rsplit("/", 1)[-1]
        lint_dashboard(name, board)
        variables = {v["name"] for v in board["templating"]["list"]}
        for v in board["templating"]["list"]:
            if v["type"] == "query":
                query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
                found.append((f"{name} variable ${v['name']}", substitute(variable_query(query), variables)))
        for panel in walk_panels(board["panels"]):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    where = f"{name} panel {panel['title']!r} {target['refId']}"
                    found.append((where, substitute(target["expr"], variables)))
    return found


def rule_expressions(prom, rule_paths):
    """(where, PromQL, is_alert) of every loaded rule, after checking all of them loaded."""
    in_files = 0
    for path in rule_paths:
        with open(path) as f:
            in_files += sum(1 for line in f if re.match(r"\s*- (record|alert):", line))
    groups = prom.api("rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    if len(rules) != in_files:
        sys.exit(f"FAIL: Prometheus loaded {len(rules)} rules, the files define {in_files}")
    found = []
    for rule in rules:
        alert = rule["type"] == "alerting"
        where = f"alert {rule['name']}" if alert else f"record {rule['name']}"
        if alert:
            labels = {k: v for k, v in rule.get("labels", {}).items() if k != "severity"}
            if labels:
                where += " " + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        found.append((where, with_bool(rule["query"]) if alert else rule["query"], alert))
    return found


def check_rule_health(prom):
    bad = []
    for group in prom.api("rules")["data"]["groups"]:
        for rule in group["rules"]:
            if rule.get("health") != "ok":
                bad.append(f"{rule['name']}: health {rule.get('health')} {rule.get('lastError', '')}")
    return bad


def reads_not_implemented(expr):
    return [m for m in NOT_IMPLEMENTED if re.search(rf"(?<!{NAME_CHARS}){m}(?!{NAME_CHARS})", expr)]


def check_expressions(prom, expressions, settle):
    """Evaluates every expression, retrying those without data until `settle` seconds pass."""
    pending = list(expressions)
    results = {}
    deadline = time.monotonic() + settle
    while pending:
        still = []
        for where, expr in pending:
            error, samples = prom.query(expr)
            if error:
                sys.exit(f"FAIL: {where} does not evaluate: {error}\n  {expr}")
            results[where] = samples
            # The allowlisted metrics were checked to be absent: no point in waiting for them.
            if samples == 0 and not reads_not_implemented(expr):
                still.append((where, expr))
        pending = still
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1)
    return results


def latency_alert(prom):
    for alert in prom.api("alerts")["data"]["alerts"]:
        labels = alert["labels"]
        if labels.get("alertname") == "LoadprobeLatencyAboveSLO" and labels.get("probe") == LATENCY_PROBE:
            return alert
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", required=True, help="base URL of Prometheus")
    parser.add_argument("--demo", required=True, help="base URL of the demo target")
    parser.add_argument("--rules", nargs="+", required=True)
    parser.add_argument("--dashboards", nargs="+", required=True)
    parser.add_argument("--settle", type=float, default=75, help="seconds to wait for data")
    args = parser.parse_args()
    prom = Prometheus(args.prometheus)
    started = time.monotonic()

    wait_until("Prometheus to be ready", lambda: urllib.request.urlopen(f"{prom.base}/-/ready", timeout=2).status == 200, 30)
    wait_until("a successful scrape of loadprobe",
               lambda: prom.query('up{job="loadprobe"} == 1')[1] == 1, 30)

    implemented = []
    if NOT_IMPLEMENTED:
        present = prom.api("query", query="count by (__name__) ({__name__=~\"%s\"})" % "|".join(NOT_IMPLEMENTED))
        implemented = [s["metric"]["__name__"] for s in present["data"]["result"]]
    if implemented:
        sys.exit(f"FAIL: {', '.join(implemented)} now exported: remove from NOT_IMPLEMENTED in {__file__}")

    rules = rule_expressions(prom, args.rules)
    board = dashboard_expressions(args.dashboards)
    expressions = [(w, e) for w, e, _ in rules] + board
    results = check_expressions(prom, expressions, args.settle)
    print(f"data checked {time.monotonic() - started:.0f}s after start")

    allowlisted, missing = [], []
    for where, expr in expressions:
        if results[where] == 0:
            reasons = reads_not_implemented(expr)
            (allowlisted if reasons else missing).append((where, expr, reasons))
    with_data = sum(1 for where, _ in expressions if results[where] > 0)
    alerts = sum(1 for _, _, alert in rules if alert)
    print(f"expressions evaluated: {len(expressions)} ({len(rules) - alerts} recording rules, "
          f"{alerts} alerts with comparisons as bool, {len(board)} dashboard queries)")
    print(f"returned data: {with_data}")
    print(f"no data, allowlisted (metric not implemented yet): {len(allowlisted)}")
    for where, _, reasons in allowlisted:
        print(f"  - {where}: {', '.join(f'{m} ({NOT_IMPLEMENTED[m]})' for m in reasons)}")
    if missing:
        print(f"FAIL: {len(missing)} expressions returned no data:")
        for where, expr, _ in missing:
            print(f"  - {where}\n      {expr}")
        sys.exit(1)

    bad = check_rule_health(prom)
    if bad:
        sys.exit("FAIL: rules with evaluation errors:\n  " + "\n  ".join(bad))
    print(f"all {len(rules)} rules evaluate without error")

    before = latency_alert(prom)
    if before:
        sys.exit(f"FAIL: LoadprobeLatencyAboveSLO is already {before['state']} for {LATENCY_PROBE} before the latency is raised")
    print(http_post(f"{args.demo}/admin/latency?value={RAISED_LATENCY}").strip())
    raised = time.monotonic()
    alert = None

    def latency_alert_active():
        nonlocal alert
        alert = latency_alert(prom)
        return alert is not None

    wait_until(f"LoadprobeLatencyAboveSLO for probe {LATENCY_PROBE}", latency_alert_active, 60)
    labels = ",".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()) if k != "alertname")
    description = alert["annotations"].get("description", "")
    print(f"LoadprobeLatencyAboveSLO{{{labels}}} became {alert['state']} "
          f"{time.monotonic() - raised:.1f}s after the latency was raised to {RAISED_LATENCY}")
    print(f"  description: {description}")
    if "<no value>" in description or "<error expanding template" in description:
        sys.exit("FAIL: the alert's description did not render")


if __name__ == "__main__":
    main()
