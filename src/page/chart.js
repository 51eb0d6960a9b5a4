// loadprobe status page: draws each probe's charts from api/v1/history as SVG and refreshes
// the page's live sections, every 5 s. Hand-written, no dependencies, embedded in the binary.
//
// Data reaches the DOM only through textContent and setAttribute (numbers and fixed class
// names). A live section is swapped for the same section of a freshly fetched copy of this
// page, whose every dynamic string the server escaped; DOMParser runs no script. No innerHTML.
'use strict';
(() => {
  const REFRESH_MS = 5000;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const WIDTH = 440;
  const HEIGHT = 170;
  const PAD = { left: 50, right: 8, top: 8, bottom: 20 };

  const round = (v) => {
    const a = Math.abs(v);
    const digits = a >= 100 || a === 0 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
    return String(Number(v.toFixed(digits)));
  };
  const format = {
    rate: (v) => `${round(v)}/s`,
    seconds: (v) => (v >= 1 ? `${round(v)} s` : `${round(v * 1000)} ms`),
    ratio: (v) => `${round(v * 100)}%`,
  };

  // What each chart draws: sample fields as lines, SLO fields as dashed lines. `floor` is
  // the least top of the y axis, so an idle chart does not magnify noise.
  const CHARTS = {
    rate: {
      format: format.rate,
      floor: 1,
      series: [
        { key: 'planned_rate', label: 'planned', cls: 's-planned' },
        { key: 'achieved_rate', label: 'achieved', cls: 's-achieved' },
      ],
      slos: [{ key: 'min_rate', label: 'min_rate', cls: 's-achieved' }],
    },
    latency: {
      format: format.seconds,
      floor: 0.001,
      series: [
        { key: 'p50', label: 'p50', cls: 's-p50' },
        { key: 'p95', label: 'p95', cls: 's-p95' },
        { key: 'p99', label: 'p99', cls: 's-p99' },
      ],
      slos: [
        { key: 'p95', label: 'p95 SLO', cls: 's-p95' },
        { key: 'p99', label: 'p99 SLO', cls: 's-p99' },
      ],
    },
    ratios: {
      format: format.ratio,
      floor: 0.01,
      series: [
        { key: 'error_ratio', label: 'errors', cls: 's-errors' },
        { key: 'throttled_ratio', label: '429', cls: 's-throttled' },
      ],
      slos: [
        { key: 'error_ratio', label: 'error SLO', cls: 's-errors' },
        { key: 'throttled_ratio', label: '429 SLO', cls: 's-throttled' },
      ],
    },
  };

  function node(parent, name, attrs, text) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
    if (text !== undefined) el.textContent = text;
    parent.appendChild(el);
    return el;
  }

  // A round step (1, 2, 2.5 or 5 times a power of ten) of about span.
  function niceStep(span) {
    const power = 10 ** Math.floor(Math.log10(span));
    const f = span / power;
    return power * (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10);
  }

  const duration = (s) => (s >= 60 ? `${round(s / 60)}m` : `${round(s)}s`);
  // Seconds between two x-axis labels: the first that gives at most four intervals.
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900];

  // Splits a series at missing values, so a gap is drawn as a gap.
  function segments(samples, key, x, y) {
    const out = [];
    let current = [];
    for (const sample of samples) {
      const v = sample[key];
      if (v === null || v === undefined) {
        if (current.length) out.push(current);
        current = [];
      } else {
        current.push([x(sample.at), y(v)]);
      }
    }
    if (current.length) out.push(current);
    return out;
  }

  function draw(figure, spec, probe, range) {
    const svg = figure.querySelector('svg');
    const samples = probe.samples;
    const values = [];
    for (const s of samples) for (const { key } of spec.series) if (s[key] != null) values.push(s[key]);
    const slos = spec.slos.filter(({ key }) => probe.slo[key] != null);
    const top = Math.max(spec.floor, ...values, ...slos.map(({ key }) => probe.slo[key])) * 1.08;
    const step = niceStep(top / 4);
    const yMax = step * Math.ceil(top / step);
    const plotW = WIDTH - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const x = (at) => PAD.left + Math.max(0, 1 - (range.end - at) / range.span) * plotW;
    const y = (v) => PAD.top + (1 - v / yMax) * plotH;

    svg.replaceChildren();
    for (let i = 0; i * step <= yMax + step / 2; i++) {
      const v = i * step;
      node(svg, 'line', { class: i ? 'grid' : 'baseline', x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v) });
      node(svg, 'text', { x: PAD.left - 6, y: y(v) + 3.5, 'text-anchor': 'end' }, spec.format(v));
    }
    const every = TIME_STEPS.find((t) => t >= range.span / 4) || TIME_STEPS[TIME_STEPS.length - 1];
    for (let ago = 0; ago <= range.span + 1e-6; ago += every) {
      const anchor = ago === 0 ? 'end' : ago > range.span - every / 2 ? 'start' : 'middle';
      node(svg, 'text', { x: x(range.end - ago), y: HEIGHT - 5, 'text-anchor': anchor }, ago ? `−${duration(ago)}` : 'now');
    }
    // Each label sits above its line, lowest line first, pushed up clear of the one below.
    let lastLabel = Infinity;
    for (const slo of [...slos].sort((a, b) => probe.slo[a.key] - probe.slo[b.key])) {
      const v = probe.slo[slo.key];
      node(svg, 'line', { class: `slo ${slo.cls}`, x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v) });
      lastLabel = Math.min(y(v) - 3, lastLabel - 10);
      node(svg, 'text', { class: `slo-label ${slo.cls}`, x: PAD.left + 4, y: lastLabel }, `${slo.label} ${spec.format(v)}`);
    }
    for (const series of spec.series) {
      for (const points of segments(samples, series.key, x, y)) {
        if (points.length === 1) {
          node(svg, 'circle', { class: `dot ${series.cls}`, cx: points[0][0], cy: points[0][1], r: 2 });
        } else {
          const text = points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
          node(svg, 'polyline', { class: `series ${series.cls}`, 'data-series': series.key, points: text });
        }
      }
    }
    if (!values.length) {
      node(svg, 'text', { class: 'empty', x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle' },
        samples.length ? 'no requests in this time range' : 'collecting the first sample…');
    }
    legend(figure.querySelector('.legend'), spec, probe);
  }

  function legend(box, spec, probe) {
    const items = [];
    const last = probe.samples[probe.samples.length - 1];
    for (const series of spec.series) {
      const value = last && last[series.key] != null ? spec.format(last[series.key]) : '–';
      items.push(item(series.cls, series.label, value));
    }
    box.replaceChildren(...items);
  }

  function item(cls, label, value) {
    const span = document.createElement('span');
    span.className = cls;
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    const text = document.createElement('span');
    text.textContent = `${label} `;
    const b = document.createElement('b');
    b.textContent = value;
    text.appendChild(b);
    span.append(swatch, text);
    return span;
  }

  async function refreshCharts() {
    const response = await fetch('api/v1/history', { cache: 'no-store' });
    if (!response.ok) throw new Error(`history: HTTP ${response.status}`);
    const history = await response.json();
    // One time range for every chart: from the start of the oldest sample (at least two
    // periods, at most the ring's 15 minutes) to the newest, so a young ring fills the width.
    const times = history.probes.flatMap((p) => p.samples.map((s) => s.at));
    const period = history.period_seconds;
    const end = times.length ? Math.max(...times) : Date.now() / 1000;
    const start = times.length ? Math.min(...times) - period : end;
    const range = { end, span: Math.min(period * history.capacity, Math.max(2 * period, end - start)) };
    const boxes = Array.from(document.querySelectorAll('.charts'));
    for (const probe of history.probes) {
      const box = boxes.find((b) => b.dataset.probe === probe.name);
      if (!box) continue;
      for (const figure of box.querySelectorAll('figure[data-chart]')) {
        const spec = CHARTS[figure.dataset.chart];
        if (spec) draw(figure, spec, probe, range);
      }
    }
  }

  async function refreshSections() {
    const response = await fetch(window.location.pathname, { cache: 'no-store' });
    if (!response.ok) throw new Error(`page: HTTP ${response.status}`);
    const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
    for (const section of document.querySelectorAll('[data-live]')) {
      const replacement = fresh.getElementById(section.id);
      if (replacement) section.replaceWith(document.adoptNode(replacement));
    }
  }

  async function tick(first) {
    const status = document.getElementById('refreshed');
    try {
      await Promise.all(first ? [refreshCharts()] : [refreshCharts(), refreshSections()]);
      if (status) status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (status) status.textContent = `refresh failed: ${error.message}`;
    } finally {
      setTimeout(() => tick(false), REFRESH_MS);
    }
  }

  tick(true);
})();
