// The node page's History section: a chart per vital over 1 h / 24 h / 7 d / 30 d from
// /api/nodes/:id/vitals, drawn with uPlot (loaded on first use). The range is kept in the URL; on
// the 1 h range each live sample is merged in, so the charts grow without a refetch. Each chart's
// figure carries `data-points`; the page learns loading / ready / error through onState.

import { ApiError, getJson } from './api.js';
import { chartData, countValues, mergeSample } from './chart-data.js';
import { CHART_DEFS } from './chart-defs.js';
import { h, setText } from './dom.js';
import { PLOT_HEIGHT_PX, plotOptions, readChartTheme } from './plot-options.js';

const RANGES = [
  { key: '1h', label: '1 h', ms: 3_600_000 },
  { key: '24h', label: '24 h', ms: 86_400_000 },
  { key: '7d', label: '7 d', ms: 7 * 86_400_000 },
  { key: '30d', label: '30 d', ms: 30 * 86_400_000 },
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

export class VitalCharts {
  #model;
  #id;
  #onState;
  #onNotFound;
  #root;
  #els = {};
  #charts = new Map(); // key → {plot, figure, def, banded}
  #points = [];
  #series; // last response of the vitals API
  #range;
  #historySeq = 0;
  #alive = true;
  #resize;
  #media;
  #uPlot;
  #lastAppended;

  /** onState('loading' | 'ready' | 'error'); onNotFound() when the API has no such node. */
  constructor(model, id, rangeKey, { onState, onNotFound }) {
    this.#model = model;
    this.#id = id;
    this.#onState = onState;
    this.#onNotFound = onNotFound;
    this.#range = RANGES.find((r) => r.key === rangeKey) ?? RANGES[0];
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  mount() {
    this.#resize = new ResizeObserver(() => this.#sizeCharts());
    this.#resize.observe(this.#els.charts);
    this.#media = matchMedia('(prefers-color-scheme: dark)');
    this.#media.onchange = () => this.#drawCharts();
    void this.#loadHistory();
  }

  unmount() {
    this.#resize?.disconnect();
    if (this.#media) this.#media.onchange = null;
    for (const { plot } of this.#charts.values()) plot?.destroy();
    this.#charts.clear();
    this.#alive = false;
  }

  #build() {
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
    this.#els = { rangeButtons, status, charts };
    return h(
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
    );
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
    const to = this.#model.now();
    const from = to - range.ms;
    this.#els.status.textContent = 'Loading…';
    this.#onState('loading');
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
      this.#onState('ready');
    } catch (err) {
      if (seq !== this.#historySeq || !this.#alive) return;
      if (err instanceof ApiError && err.status === 404) this.#onNotFound();
      else this.#els.status.textContent = `Could not load the history: ${err.message}`;
      this.#onState('error');
    }
  }

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
    const node = this.#model.nodes.get(this.#id);
    const theme = readChartTheme();
    // A band (min–max) when points stand for several samples (rollups, or raw grouped by the step).
    const banded = this.#points.some((p) => p.n > 1);
    const pending = [];
    for (const def of CHART_DEFS) {
      if (def.needs && !def.needs(node)) continue;
      const data = chartData(def, this.#points, this.#series?.stepMs, banded);
      const points = countValues(data[1]);
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
      const plot = new uPlot(plotOptions(def, { banded, width: plotEl.clientWidth, theme }), data, plotEl);
      this.#charts.set(def.key, { plot, figure, def, banded: banded && def.band });
    }
    if (this.#charts.size === 0) this.#els.charts.append(h('p', { class: 'muted', text: 'No vitals to chart.' }));
  }

  /** A live sample: on the 1 h range of raw samples, merged into the charts (see mergeSample). */
  addSample(sample) {
    if (this.#range.key !== '1h' || !this.#uPlot || this.#series?.resolution !== 'raw') return;
    if (sample.seq === this.#lastAppended) return;
    this.#lastAppended = sample.seq;
    const point = mergeSample(this.#points, sample, this.#series.stepMs, this.#range.ms);
    if (!point) return; // older than what is drawn
    const node = this.#model.nodes.get(this.#id);
    let missing = false;
    for (const def of CHART_DEFS) {
      const chart = this.#charts.get(def.key);
      const has = def.fields.some((f) => typeof point[f] === 'number') && (!def.needs || def.needs(node));
      if (!chart) {
        if (has) missing = true;
        continue;
      }
      const data = chartData(def, this.#points, this.#series?.stepMs, chart.banded);
      chart.plot.setData(data);
      chart.figure.dataset.points = String(countValues(data[1]));
    }
    if (missing) this.#drawCharts(); // a vital appeared that had no chart yet
    this.#updateStatus();
  }

  #sizeCharts() {
    for (const { plot, figure } of this.#charts.values()) {
      const w = figure.querySelector('.plot')?.clientWidth ?? 0;
      if (w > 0 && Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height: PLOT_HEIGHT_PX });
    }
  }
}
