#!/usr/bin/env python3
"""bench/chart.py — an SVG line chart in plain Python (no matplotlib): CPU seconds per 100k
requests against the request rate, one polyline per tool, log-scale x; the y axis is
logarithmic too when the values span more than a factor of 20 (it says so).

    python3 bench/chart.py results/fixed-STAMP.json > chart.svg

bench/report.py doc calls cpu_chart() with the medians of the fixed-rate scenario; a
vertical bar at each point shows the runs' min–max.
"""

import json
import math
import sys
from xml.sax.saxutils import escape

COLORS = {"loadprobe": "#d62728", "oha": "#1f77b4", "hey": "#2ca02c", "wrk": "#9467bd",
          "loadprobe_bursts": "#ff9896", "hey_even": "#98df8a"}
MARKERS = {"loadprobe": "circle", "oha": "square", "hey": "diamond"}


def _nice_ticks_log(lo, hi):
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo * 0.9999 <= v <= hi * 1.0001:
                ticks.append(v)
        e += 1
    return ticks


def _nice_ticks_lin(hi):
    raw = hi / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=mag * 10)
    return [i * step for i in range(int(hi / step) + 2) if i * step <= hi * 1.0001]


def _fmt(v):
    return ("%g" % v) if v < 1000 else "{:,}".format(int(v)).replace(",", " ")


def cpu_chart(series, title="CPU seconds per 100k requests", width=720, height=440):
    """series: {tool: [(rate, median, min, max), ...]} → SVG text."""
    pts = [p for s in series.values() for p in s]
    if not pts:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="5" y="20">no data</text></svg>\n'
    x_lo = min(p[0] for p in pts)
    x_hi = max(p[0] for p in pts)
    y_vals = [v for p in pts for v in p[1:] if v and v > 0]
    y_lo, y_hi = min(y_vals), max(y_vals)
    log_y = y_hi / y_lo > 20
    x_lo_a, x_hi_a = x_lo / 1.6, x_hi * 1.6
    if log_y:
        y_lo_a, y_hi_a = 10 ** math.floor(math.log10(y_lo)), 10 ** math.ceil(math.log10(y_hi))
    else:
        y_lo_a, y_hi_a = 0.0, y_hi * 1.1
    left, right, top, bottom = 70, 170, 40, 55
    pw, ph = width - left - right, height - top - bottom

    def sx(x):
        return left + (math.log10(x) - math.log10(x_lo_a)) / (math.log10(x_hi_a) - math.log10(x_lo_a)) * pw

    def sy(y):
        if log_y:
            f = (math.log10(max(y, y_lo_a)) - math.log10(y_lo_a)) / (math.log10(y_hi_a) - math.log10(y_lo_a))
        else:
            f = (y - y_lo_a) / (y_hi_a - y_lo_a)
        return top + ph - f * ph

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="12">' % (width, height, width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>' % (left, escape(title))]
    # grid and ticks
    for xv in sorted({p[0] for p in pts}):   # a tick at every measured rate
        x = sx(xv)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x, top, x, top + ph))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, top + ph + 16, _fmt(xv)))
    yt = _nice_ticks_log(y_lo_a, y_hi_a) if log_y else _nice_ticks_lin(y_hi_a)
    for yv in yt:
        y = sy(yv)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (left, y, left + pw, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>' % (left - 6, y, _fmt(yv)))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>' % (left, top, pw, ph))
    out.append('<text x="%.1f" y="%d" text-anchor="middle">requests per second (log scale)</text>' % (left + pw / 2, height - 12))
    out.append('<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">CPU s per 100k requests%s</text>'
               % (top + ph / 2, " (log scale)" if log_y else ""))
    order = [t for t in COLORS if t in series] + sorted(set(series) - set(COLORS))
    for i, tool in enumerate(order):
        s = sorted(series[tool])
        color = COLORS.get(tool, "#555")
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            color, " ".join("%.1f,%.1f" % (sx(r), sy(m)) for r, m, _, _ in s)))
        for r, m, lo, hi in s:
            x, y = sx(r), sy(m)
            if lo is not None and hi is not None and hi > lo:
                out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>' % (x, sy(lo), x, sy(hi), color))
            out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s at %s/s: %.2f s per 100k (%.2f–%.2f)</title></circle>'
                       % (x, y, color, escape(tool), _fmt(r), m, lo if lo is not None else m, hi if hi is not None else m))
        ly = top + 12 + i * 20
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>' % (left + pw + 14, ly, left + pw + 38, ly, color))
        out.append('<text x="%d" y="%d" dominant-baseline="middle">%s</text>' % (left + pw + 44, ly, escape(tool)))
    out.append('<text x="%d" y="%d" font-size="10" fill="#555">median of the runs;</text>' % (left + pw + 14, top + 12 + len(order) * 20 + 4))
    out.append('<text x="%d" y="%d" font-size="10" fill="#555">bars: min–max</text>' % (left + pw + 14, top + 12 + len(order) * 20 + 17))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        data = json.load(f)
    series = {}
    for gr in data["groups"]:
        v = gr["figures"].get("cpu_per_100k") or {}
        if v.get("median") is not None:
            series.setdefault(gr["tool"], []).append((gr["rate"], v["median"], v["min"], v["max"]))
    sys.stdout.write(cpu_chart(series))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
