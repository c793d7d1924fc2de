// A node's page (#/node/ID): state and labels, its vitals now, machine info, disks and network,
// charts of each vital over 1 h / 24 h / 7 d / 30 d from /api/nodes/:id/vitals (uPlot, loaded on
// first use), and its recent events. Live: the cards follow the stream, the 1 h charts get each
// new sample appended, new events are prepended. Each chart's figure carries `data-points`.

import { ApiError, getJson } from './api.js';
import { h, labelChips, safeClass, setText } from './dom.js';
import * as fmt from './format.js';

const RANGES = [
  { key: '1h', label: '1 h', ms: 3_600_000 },
  { key: '24h', label: '24 h', ms: 86_400_000 },
  { key: '7d', label: '7 d', ms: 7 * 86_400_000 },
  { key: '30d', label: '30 d', ms: 30 * 86_400_000 },
];
const MAX_SKEW_MS = 86_400_000;
const EVENT_LIMIT = 20;

/** The charts: which point fields they draw, how values read, and when they apply. */
const CHARTS = [
  {
    key: 'cpu',
    title: 'CPU usage',
    fields: ['cpuPercent'],
    names: ['CPU'],
    fmt: fmt.percent,
    axis: (v) => `${v}%`,
    band: true,
    range: [0, 100],
  },
  {
    key: 'temp',
    title: 'Temperature',
    fields: ['tempC'],
    names: ['temp'],
    fmt: fmt.temp,
    axis: (v) => `${v} °C`,
    band: true,
  },
  {
    key: 'ram',
    title: 'RAM available',
    fields: ['ramAvailableBytes'],
    names: ['available'],
    fmt: fmt.bytes,
    band: true,
    zero: true,
  },
  {
    key: 'load',
    title: 'Load average',
    fields: ['load1', 'load5', 'load15'],
    names: ['1 min', '5 min', '15 min'],
    fmt: fmt.load,
    axis: (v) => String(v),
    zero: true,
  },
  {
    key: 'mhz',
    title: 'CPU frequency',
    fields: ['cpuMhz'],
    names: ['MHz'],
    fmt: fmt.mhz,
    axis: (v) => String(v),
    band: true,
  },
  {
    key: 'swap',
    title: 'Swap free',
    fields: ['swapFreeBytes'],
    names: ['free'],
    fmt: fmt.bytes,
    band: true,
    zero: true,
    needs: (n) => n?.info?.swapTotalBytes > 0,
  },
];

let uPlotModule;
/** uPlot is only fetched when a node page first needs it. */
function loadUPlot() {
  uPlotModule ??= import('./uplot/uPlot.esm.js').then(
    (m) => m.default,
    (err) => {
      uPlotModule = undefined; // a failed load (link down, session over) is tried again next time
      throw err;
    },
  );
  return uPlotModule;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** The time a sample is filed under (as the primary does): the node's clock unless a day off. */
function sampleTime(s) {
  return typeof s.receivedAt === 'number' && Math.abs(s.ts - s.receivedAt) > MAX_SKEW_MS ? s.receivedAt : s.ts;
}

export class NodePage {
  #store;
  #id;
  #root;
  #els = {};
  #unsubscribe = [];
  #charts = new Map(); // key → {plot, figure, def}
  #points = [];
  #series; // last response of the vitals API
  #range;
  #historySeq = 0;
  #alive = true;
  #resize;
  #media;
  #prevSample;
  #rates = new Map();
  #events = [];
  #frame = 0;

  constructor(store, id, rangeKey) {
    this.#store = store;
    this.#id = id;
    this.#range = RANGES.find((r) => r.key === rangeKey) ?? RANGES[0];
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  mount() {
    this.#unsubscribe.push(
      this.#store.subscribe((ids, kind) => {
        if (ids === null || ids.has(this.#id)) this.#onNodeChange(kind);
      }),
      this.#store.onEvent((entry) => {
        if (entry?.node === this.#id) this.#addEvents([entry], true);
      }),
    );
    this.#resize = new ResizeObserver(() => this.#sizeCharts());
    this.#resize.observe(this.#els.charts);
    this.#media = matchMedia('(prefers-color-scheme: dark)');
    this.#media.onchange = () => this.#drawCharts();
    void this.#loadNode();
    void this.#loadHistory();
    void this.#loadEvents();
  }

  unmount() {
    for (const off of this.#unsubscribe) off();
    this.#resize?.disconnect();
    if (this.#media) this.#media.onchange = null;
    cancelAnimationFrame(this.#frame);
    for (const { plot } of this.#charts.values()) plot?.destroy();
    this.#charts.clear();
    this.#alive = false;
  }

  #build() {
    const title = h('h1', { tabindex: '-1', text: this.#store.nodes.get(this.#id)?.name ?? 'Node' });
    const badge = h('span', { class: 'badge' });
    const labels = h('span', { class: 'labels' });
    const sub = h('p', { class: 'muted node-sub' });
    const now = h('dl', { class: 'kv' });
    const machine = h('dl', { class: 'kv' });
    const disks = h('div', { class: 'table-wrap' });
    const nets = h('div', { class: 'table-wrap' });
    const rangeButtons = RANGES.map((r) =>
      h('button', {
        type: 'button',
        class: 'range',
        'aria-pressed': String(r === this.#range),
        dataset: { range: r.key },
        text: r.label,
        onclick: () => this.#setRange(r),
      }),
    );
    const status = h('p', { class: 'muted chart-status', 'aria-live': 'polite' });
    const charts = h('div', { class: 'charts' });
    const events = h('ol', { class: 'event-list' });
    const message = h('p', { class: 'empty', hidden: true });
    this.#els = { title, badge, labels, sub, now, machine, disks, nets, rangeButtons, status, charts, events, message };
    return h(
      'section',
      { class: 'page node-page', dataset: { node: this.#id } },
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/', text: '← All nodes' })),
      h('header', { class: 'node-head' }, title, badge, labels),
      sub,
      message,
      h(
        'div',
        { class: 'cards' },
        h('section', { class: 'card', 'aria-labelledby': 'now-title' }, h('h2', { id: 'now-title', text: 'Now' }), now),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'machine-title' },
          h('h2', { id: 'machine-title', text: 'Machine' }),
          machine,
        ),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'disks-title' },
          h('h2', { id: 'disks-title', text: 'Disks' }),
          disks,
        ),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'net-title' },
          h('h2', { id: 'net-title', text: 'Network' }),
          nets,
        ),
      ),
      h(
        'section',
        { class: 'history', 'aria-labelledby': 'history-title' },
        h(
          'div',
          { class: 'history-head' },
          h('h2', { id: 'history-title', text: 'History' }),
          h('div', { class: 'ranges', role: 'group', 'aria-label': 'Time range' }, rangeButtons),
        ),
        status,
        charts,
      ),
      h(
        'section',
        { class: 'card recent', 'aria-labelledby': 'events-title' },
        h('h2', { id: 'events-title', text: 'Recent events' }),
        events,
        h('a', { href: `#/events?node=${encodeURIComponent(this.#id)}`, text: 'All events of this node →' }),
      ),
    );
  }

  async #loadNode() {
    try {
      const { body } = await getJson(`/api/nodes/${encodeURIComponent(this.#id)}`);
      if (!this.#alive) return;
      // The stream may have brought something newer meanwhile.
      if (!this.#store.nodes.get(this.#id)) this.#store.upsertNode(body);
      else this.#render(body);
    } catch (err) {
      if (!this.#alive) return;
      if (err instanceof ApiError && err.status === 404) this.#notFound();
      else if (!this.#store.nodes.get(this.#id)) this.#showMessage(`Could not load the node: ${err.message}`);
    }
  }

  #notFound() {
    this.#root.dataset.missing = 'true';
    setText(this.#els.title, 'Node not found');
    this.#showMessage(`There is no node with id ${this.#id}.`);
    for (const el of this.#root.querySelectorAll('.cards, .history, .recent')) el.hidden = true;
  }

  #showMessage(text) {
    this.#els.message.textContent = text;
    this.#els.message.hidden = false;
  }

  #onNodeChange(kind) {
    const node = this.#store.nodes.get(this.#id);
    if (!node) return;
    if (kind !== 'all' && node.vitals) this.#appendSample(node.vitals);
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#render(this.#store.nodes.get(this.#id));
    });
  }

  #render(node) {
    if (!node) return;
    this.#els.message.hidden = true;
    setText(this.#els.title, node.name || node.id);
    document.title = `${node.name || node.id} · picluster`;
    this.#els.badge.className = `badge state-${safeClass(node.state)}`;
    setText(this.#els.badge, node.state);
    this.#root.dataset.state = safeClass(node.state);
    const labelsKey = JSON.stringify(node.labels ?? {});
    if (this.#els.labels.dataset.key !== labelsKey) {
      this.#els.labels.dataset.key = labelsKey;
      this.#els.labels.replaceChildren(...labelChips(node.labels));
    }
    const now = this.#store.now();
    const seenAt = Math.max(node.lastSeen ?? 0, node.vitals?.receivedAt ?? 0);
    const parts = [`id ${node.id}`];
    if (node.address) parts.push(`address ${node.address}`);
    if (node.state === 'online' && node.connectedSince) parts.push(`connected ${fmt.ago(now - node.connectedSince)}`);
    parts.push(`last seen ${fmt.ago(now - seenAt)}`);
    if (node.legacy) parts.push('legacy protocol');
    setText(this.#els.sub, parts.join(' · '));
    this.#renderNow(node);
    this.#renderMachine(node);
    this.#renderDisks(node);
    this.#renderNets(node);
  }

  #renderNow(node) {
    const v = node.vitals;
    const i = node.info;
    if (!v) {
      this.#els.now.replaceChildren(h('div', { class: 'muted', text: 'No vitals yet.' }));
      return;
    }
    const rows = [
      ['CPU', `${fmt.percent(v.cpuPercent)}${typeof v.cpuMhz === 'number' ? ` at ${fmt.mhz(v.cpuMhz)}` : ''}`],
      [
        'RAM',
        i?.ramTotalBytes
          ? `${fmt.percent(fmt.ramUsedPercent(node))} used · ${fmt.bytes(v.ramAvailableBytes)} available of ${fmt.bytes(i.ramTotalBytes)}`
          : `${fmt.bytes(v.ramAvailableBytes)} available`,
      ],
      ['Swap', i?.swapTotalBytes ? `${fmt.bytes(v.swapFreeBytes)} free of ${fmt.bytes(i.swapTotalBytes)}` : 'none'],
      ['Load', `${fmt.load(v.load1)} · ${fmt.load(v.load5)} · ${fmt.load(v.load15)}`],
      ['Temperature', fmt.temp(v.tempC)],
      ['Uptime', fmt.duration(v.uptimeS)],
    ];
    if (v.throttled) {
      const nowFlags = v.throttled.now?.join(', ') || 'no';
      const boot = v.throttled.sinceBoot?.join(', ') || 'none';
      rows.push(['Throttled', `now: ${nowFlags}; since boot: ${boot}`]);
    }
    rows.push(['Sample', `#${v.seq} · ${fmt.when(v.receivedAt ?? v.ts)}`]);
    if (typeof v.receivedAt === 'number' && Math.abs(v.ts - v.receivedAt) > 5000) {
      rows.push([
        'Clock skew',
        `node clock ${fmt.duration(Math.abs(v.ts - v.receivedAt) / 1000)} ${v.ts > v.receivedAt ? 'ahead' : 'behind'}`,
      ]);
    }
    if (v.dropped) rows.push(['Dropped', `${v.dropped} samples (outbox full)`]);
    this.#els.now.replaceChildren(...kv(rows));
  }

  #renderMachine(node) {
    const i = node.info;
    if (!i) {
      this.#els.machine.replaceChildren(h('div', { class: 'muted', text: 'No machine info yet.' }));
      return;
    }
    const mhzRange =
      typeof i.cpuMinMhz === 'number' && typeof i.cpuMaxMhz === 'number'
        ? ` · ${Math.round(i.cpuMinMhz)}–${Math.round(i.cpuMaxMhz)} MHz`
        : '';
    const rows = [
      ['Hostname', i.hostname],
      ['Board', i.board],
      ['OS', i.os],
      ['Kernel', i.kernel],
      ['CPU', `${i.cpuModel} · ${i.cpuCores} cores · ${i.arch}${mhzRange}`],
      ['RAM', fmt.bytes(i.ramTotalBytes)],
      ['Swap', fmt.bytes(i.swapTotalBytes)],
      ['picluster', i.version],
      ['Boot id', i.bootId],
    ].filter(([, value]) => value !== undefined && value !== null && value !== '');
    this.#els.machine.replaceChildren(...kv(rows));
  }

  #renderDisks(node) {
    const disks = node.vitals?.disks ?? [];
    if (disks.length === 0) {
      this.#els.disks.replaceChildren(h('p', { class: 'muted', text: 'No disks reported.' }));
      return;
    }
    const rows = disks.map((d) => {
      const used = d.totalBytes > 0 ? ((d.totalBytes - d.freeBytes) / d.totalBytes) * 100 : undefined;
      return h(
        'tr',
        null,
        h('th', { scope: 'row', text: d.mount }),
        h('td', { text: fmt.percent(used) }),
        h('td', { text: fmt.bytes(d.freeBytes) }),
        h('td', { text: fmt.bytes(d.totalBytes) }),
      );
    });
    this.#els.disks.replaceChildren(table(['Mount', 'Used', 'Free', 'Size'], rows));
  }

  #renderNets(node) {
    const v = node.vitals;
    const nets = v?.nets ?? [];
    // Rates from the last two samples this page saw.
    const prev = this.#prevSample;
    if (v && prev && v.seq > prev.seq && v.ts > prev.ts) {
      const dt = (v.ts - prev.ts) / 1000;
      for (const n of nets) {
        const p = prev.nets?.find((x) => x.iface === n.iface);
        if (p && n.rxBytes >= p.rxBytes && n.txBytes >= p.txBytes) {
          this.#rates.set(n.iface, { rx: (n.rxBytes - p.rxBytes) / dt, tx: (n.txBytes - p.txBytes) / dt });
        }
      }
    }
    if (v && (!prev || v.seq !== prev.seq)) this.#prevSample = v;
    if (nets.length === 0) {
      this.#els.nets.replaceChildren(h('p', { class: 'muted', text: 'No interfaces reported.' }));
      return;
    }
    const rows = nets.map((n) => {
      const rate = this.#rates.get(n.iface);
      const perS = (x) => (rate ? `${fmt.bytes(x)}/s` : fmt.NONE);
      return h(
        'tr',
        null,
        h('th', { scope: 'row', text: n.iface }),
        h('td', { text: perS(rate?.rx) }),
        h('td', { text: perS(rate?.tx) }),
        h('td', { text: fmt.bytes(n.rxBytes) }),
        h('td', { text: fmt.bytes(n.txBytes) }),
      );
    });
    this.#els.nets.replaceChildren(table(['Interface', 'In', 'Out', 'Received', 'Sent'], rows));
  }

  #setRange(range) {
    if (range === this.#range) return;
    this.#range = range;
    for (const b of this.#els.rangeButtons) b.setAttribute('aria-pressed', String(b.dataset.range === range.key));
    history.replaceState(
      null,
      '',
      `#/node/${encodeURIComponent(this.#id)}${range.key === '1h' ? '' : `?range=${range.key}`}`,
    );
    void this.#loadHistory();
  }

  async #loadHistory() {
    const seq = ++this.#historySeq;
    const range = this.#range;
    const to = this.#store.now();
    const from = to - range.ms;
    this.#els.status.textContent = 'Loading…';
    this.#root.dataset.charts = 'loading';
    try {
      const [{ body }, uPlot] = await Promise.all([
        getJson(`/api/nodes/${encodeURIComponent(this.#id)}/vitals?from=${Math.floor(from)}&to=${Math.ceil(to)}`),
        loadUPlot(),
      ]);
      if (seq !== this.#historySeq || !this.#alive) return;
      this.#uPlot = uPlot;
      this.#series = body;
      this.#points = Array.isArray(body?.points) ? body.points.slice() : [];
      this.#drawCharts();
      this.#updateStatus();
      this.#root.dataset.charts = 'ready';
    } catch (err) {
      if (seq !== this.#historySeq || !this.#alive) return;
      if (err instanceof ApiError && err.status === 404) this.#notFound();
      else this.#els.status.textContent = `Could not load the history: ${err.message}`;
      this.#root.dataset.charts = 'error';
    }
  }

  #uPlot;
  #lastAppended;

  #updateStatus() {
    const res = this.#series?.resolution;
    const kind = { raw: 'raw samples', '1m': 'per-minute averages', '1h': 'hourly averages' }[res];
    const band = this.#points.some((p) => p.n > 1) ? ', shaded: min–max' : '';
    const how = kind ? ` · ${kind}${band}` : '';
    const label = this.#range.label;
    setText(
      this.#els.status,
      this.#points.length
        ? `${this.#points.length} points over the last ${label}${how}`
        : `No data in the last ${label}.`,
    );
  }

  /** (Re)creates every chart from #points (also on a theme change). */
  #drawCharts() {
    const uPlot = this.#uPlot;
    if (!uPlot) return;
    for (const { plot } of this.#charts.values()) plot?.destroy();
    this.#charts.clear();
    this.#els.charts.replaceChildren();
    const node = this.#store.nodes.get(this.#id);
    const colors = [cssVar('--chart-1'), cssVar('--chart-2'), cssVar('--chart-3')];
    const axis = cssVar('--muted');
    const grid = cssVar('--grid');
    const bandFill = cssVar('--chart-band');
    // A band (min–max) when points stand for several samples (rollups, or raw grouped by the step).
    const banded = this.#points.some((p) => p.n > 1);
    const pending = [];
    for (const def of CHARTS) {
      if (def.needs && !def.needs(node)) continue;
      const data = this.#data(def, banded);
      const points = data[1].filter((y) => y !== null && y !== undefined).length;
      if (points === 0 && def.key !== 'cpu') continue; // a vital this machine does not have
      const plotEl = h('div', { class: 'plot' });
      const figure = h(
        'figure',
        { class: 'chart', dataset: { vital: def.key, points: String(points) } },
        h('figcaption', { text: def.title }),
        plotEl,
      );
      this.#els.charts.append(figure);
      pending.push({ def, data, plotEl, figure });
    }
    // All figures are in the grid now, so each plot's width is its cell's.
    for (const { def, data, plotEl, figure } of pending) {
      const series = [{}];
      def.names.forEach((name, i) => {
        series.push({
          label: name,
          stroke: colors[i % colors.length],
          width: 1.5,
          value: (_u, y) => (y === null || y === undefined ? fmt.NONE : def.fmt(y)),
          points: { show: false },
        });
      });
      const bands = [];
      if (banded && def.band) {
        series.push({
          label: 'max',
          stroke: bandFill,
          width: 0,
          value: (_u, y) => (y == null ? fmt.NONE : def.fmt(y)),
          points: { show: false },
        });
        series.push({
          label: 'min',
          stroke: bandFill,
          width: 0,
          value: (_u, y) => (y == null ? fmt.NONE : def.fmt(y)),
          points: { show: false },
        });
        bands.push({ series: [2, 3], fill: bandFill });
      }
      const opts = {
        width: Math.max(150, plotEl.clientWidth),
        height: 170,
        series,
        bands,
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true },
          y: def.range
            ? { range: def.range }
            : def.zero
              ? { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] }
              : {},
        },
        axes: [
          { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
          {
            stroke: axis,
            grid: { stroke: grid, width: 1 },
            ticks: { stroke: grid, width: 1 },
            values: (_u, splits) => splits.map((v) => (def.axis ?? def.fmt)(v)),
            size: axisSize,
          },
        ],
      };
      const plot = new uPlot(opts, data, plotEl);
      this.#charts.set(def.key, { plot, figure, def, banded: banded && def.band });
    }
    if (this.#charts.size === 0) this.#els.charts.append(h('p', { class: 'muted', text: 'No vitals to chart.' }));
  }

  /** uPlot's columns for one chart: x (seconds), the fields, then max and min when banded; gaps become nulls. */
  #data(def, banded) {
    const pts = this.#points;
    const cols = [[], ...def.fields.map(() => []), ...(banded && def.band ? [[], []] : [])];
    const step = gapStep(pts, this.#series?.stepMs);
    let prevTs;
    for (const p of pts) {
      if (prevTs !== undefined && p.ts - prevTs > step * 2.5) {
        // A hole (node down, primary down): break the line instead of bridging it.
        cols[0].push((prevTs + step) / 1000);
        for (let c = 1; c < cols.length; c++) cols[c].push(null);
      }
      prevTs = p.ts;
      cols[0].push(p.ts / 1000);
      def.fields.forEach((f, i) => {
        cols[i + 1].push(num(p[f]));
      });
      if (banded && def.band) {
        const f = def.fields[0];
        cols[def.fields.length + 1].push(num(p.max?.[f] ?? p[f]));
        cols[def.fields.length + 2].push(num(p.min?.[f] ?? p[f]));
      }
    }
    return cols;
  }

  /**
   * A live sample: on the 1 h range, merge it into the chart the way the API groups raw samples
   * (buckets of stepMs: mean, min, max) and drop what scrolled out.
   */
  #appendSample(sample) {
    if (this.#range.key !== '1h' || !this.#uPlot || this.#series?.resolution !== 'raw') return;
    if (sample.seq === this.#lastAppended) return;
    this.#lastAppended = sample.seq;
    const ts = sampleTime(sample);
    const step = Math.max(1, this.#series.stepMs ?? 1);
    const bucket = Math.floor(ts / step) * step;
    let point = this.#points.at(-1);
    if (point && bucket < point.ts) return; // older than what is drawn
    if (!point || bucket > point.ts) {
      point = { ts: bucket, n: 0, min: {}, max: {} };
      this.#points.push(point);
    }
    const n = point.n;
    for (const def of CHARTS) {
      for (const f of def.fields) {
        const x = sample[f];
        if (typeof x !== 'number') continue;
        point[f] = typeof point[f] === 'number' && n > 0 ? (point[f] * n + x) / (n + 1) : x;
        point.min[f] = Math.min(point.min[f] ?? x, x);
        point.max[f] = Math.max(point.max[f] ?? x, x);
      }
    }
    point.n = n + 1;
    const from = ts - this.#range.ms;
    while (this.#points.length && this.#points[0].ts < from) this.#points.shift();
    const node = this.#store.nodes.get(this.#id);
    let missing = false;
    for (const def of CHARTS) {
      const chart = this.#charts.get(def.key);
      const has = def.fields.some((f) => typeof point[f] === 'number') && (!def.needs || def.needs(node));
      if (!chart) {
        if (has) missing = true;
        continue;
      }
      const data = this.#data(def, chart.banded);
      chart.plot.setData(data);
      chart.figure.dataset.points = String(data[1].filter((y) => y !== null && y !== undefined).length);
    }
    if (missing) this.#drawCharts(); // a vital appeared that had no chart yet
    this.#updateStatus();
  }

  #sizeCharts() {
    for (const { plot, figure } of this.#charts.values()) {
      const w = figure.querySelector('.plot')?.clientWidth ?? 0;
      if (w > 0 && Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height: 170 });
    }
  }

  async #loadEvents() {
    try {
      const { body } = await getJson(`/api/events?node=${encodeURIComponent(this.#id)}&limit=${EVENT_LIMIT}`);
      this.#addEvents(Array.isArray(body?.events) ? body.events : [], false);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        this.#els.events.replaceChildren(h('li', { class: 'muted', text: `Could not load events: ${err.message}` }));
      }
    }
  }

  #addEvents(entries, live) {
    const byId = new Map(this.#events.map((e) => [e.id, e]));
    for (const e of entries) if (e && !byId.has(e.id)) byId.set(e.id, e);
    this.#events = [...byId.values()].sort((a, b) => b.ts - a.ts || b.id - a.id).slice(0, EVENT_LIMIT);
    if (this.#events.length === 0) {
      this.#els.events.replaceChildren(h('li', { class: 'muted', text: 'No events.' }));
      return;
    }
    this.#els.events.replaceChildren(...this.#events.map((e) => eventItem(e)));
    if (live) this.#els.events.firstChild?.classList.add('fresh');
  }
}

function eventItem(e) {
  return h(
    'li',
    { dataset: { type: safeClass(e.type) } },
    h('time', { datetime: fmt.iso(e.ts), text: fmt.when(e.ts) }),
    h('span', { class: `badge state-${safeClass(e.type)}`, text: e.type }),
    h('span', { class: 'muted', text: eventDetails(e) }),
  );
}

/** An event's own fields as `key=value` text. */
export function eventDetails(e) {
  return Object.entries(e)
    .filter(([k]) => !['id', 'ts', 'node', 'type'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

function kv(rows) {
  return rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: String(v) })]);
}

function table(headers, rows) {
  return h(
    'table',
    null,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((t) => h('th', { scope: 'col', text: t })),
      ),
    ),
    h('tbody', null, rows),
  );
}

let measureCtx;
/** A y axis wide enough for its longest tick label (uPlot's default is a fixed 50 px). */
function axisSize(u, values) {
  if (!values?.length) return 50;
  measureCtx ??= document.createElement('canvas').getContext('2d');
  measureCtx.font = u.axes[1]?.font?.[0] ?? '12px system-ui, sans-serif';
  const widest = Math.max(...values.map((v) => measureCtx.measureText(String(v)).width));
  return Math.ceil(widest / devicePixelRatio) + 24;
}

function num(x) {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

/** The spacing points normally have: the larger of the API's step and the median gap. */
function gapStep(points, stepMs) {
  if (points.length < 3) return Number.POSITIVE_INFINITY;
  const gaps = [];
  for (let i = 1; i < points.length; i++) gaps.push(points[i].ts - points[i - 1].ts);
  gaps.sort((a, b) => a - b);
  return Math.max(stepMs ?? 0, gaps[Math.floor(gaps.length / 2)]);
}
