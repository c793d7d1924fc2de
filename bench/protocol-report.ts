// The results of the protocol bench (bench/run.ts): what is measured, which ratios are computed
// against which peer and with which target, and the two tables printed (figures per peer, ratios).
// Every ratio is computed per run (both figures from the same run, taken side by side) and its
// spread is half the min–max range of those per-run ratios.

import { type Impl, median } from './common.js';

export type MetricKey = 'oneWay' | 'oneWayEndToEnd' | 'rr1' | 'rr64' | 'latencyP50' | 'latencyP99' | 'vitalsOneWay';

export interface MetricDef {
  key: MetricKey;
  label: string;
  unit: 'msg/s' | 'req/s' | 'µs';
  higherIsBetter: boolean;
}

/** A ratio's denominator: a peer, or `raw-batched`, the better of raw-cork and raw-concat in each run. */
export type Peer = Impl | 'raw-batched';

export interface RatioDef {
  metric: MetricKey;
  /** picluster / `of`. */
  of: Peer;
  /** Bound on the ratio: `>=` for rates, `<=` for latencies; absent: informational. */
  target?: { op: '>=' | '<='; ratio: number };
}

/** Figures per metric and peer, one per run (index = run), NaN where a peer was not measured. */
export class Runs {
  readonly #values = new Map<string, number[]>();

  record(metric: MetricKey, impl: Impl, run: number, value: number): void {
    const key = `${metric}/${impl}`;
    const values = this.#values.get(key) ?? [];
    values[run] = value;
    this.#values.set(key, values);
  }

  /** The figures of `peer` for `metric` by run; `raw-batched` takes the better raw form per run. */
  of(metric: MetricDef, peer: Peer): number[] {
    if (peer !== 'raw-batched') return [...(this.#values.get(`${metric.key}/${peer}`) ?? [])];
    const cork = this.of(metric, 'raw-cork');
    const concat = this.of(metric, 'raw-concat');
    const better = metric.higherIsBetter ? Math.max : Math.min;
    return cork.map((c, i) => better(c, concat[i] ?? Number.NaN));
  }
}

export interface FigureRow {
  metric: MetricKey;
  label: string;
  unit: string;
  peers: Partial<Record<Peer, { median: number; spreadPct: number; runs: number[] }>>;
}

export interface RatioRow {
  metric: MetricKey;
  label: string;
  of: Peer;
  /** Median of the per-run ratios picluster / peer. */
  ratio: number;
  /** Half the min–max range of the per-run ratios (absolute, in ratio units). */
  spread: number;
  runs: number[];
  target: string | null;
  pass: boolean | null;
  /** How far the ratio is from its target, on the passing side when positive. */
  margin: number | null;
  /** Whether the spread is smaller than the margin claimed (|margin| > spread). */
  marginExceedsSpread: boolean | null;
}

const finite = (values: number[]) => values.filter((v) => Number.isFinite(v));

function spreadOf(values: number[]): number {
  const v = finite(values);
  return v.length === 0 ? Number.NaN : (Math.max(...v) - Math.min(...v)) / 2;
}

export function figureRows(metrics: MetricDef[], runs: Runs, peers: readonly Peer[]): FigureRow[] {
  return metrics.map((m) => {
    const row: FigureRow = { metric: m.key, label: m.label, unit: m.unit, peers: {} };
    for (const peer of peers) {
      const values = finite(runs.of(m, peer));
      if (values.length === 0) continue;
      const med = median(values);
      row.peers[peer] = { median: med, spreadPct: (spreadOf(values) / med) * 100, runs: values };
    }
    return row;
  });
}

export function ratioRows(metrics: MetricDef[], ratios: RatioDef[], runs: Runs): RatioRow[] {
  const rows: RatioRow[] = [];
  for (const def of ratios) {
    const metric = metrics.find((m) => m.key === def.metric) as MetricDef;
    const mine = runs.of(metric, 'picluster');
    const theirs = runs.of(metric, def.of);
    const perRun = finite(mine.map((p, i) => p / (theirs[i] ?? Number.NaN)));
    if (perRun.length === 0) continue;
    const ratio = median(perRun);
    const spread = spreadOf(perRun);
    const t = def.target;
    const margin = t === undefined ? null : t.op === '>=' ? ratio - t.ratio : t.ratio - ratio;
    rows.push({
      metric: def.metric,
      label: metric.label,
      of: def.of,
      ratio,
      spread,
      runs: perRun,
      target: t === undefined ? null : `${t.op} ${t.ratio.toFixed(2)}`,
      pass: margin === null ? null : margin >= 0,
      margin,
      marginExceedsSpread: margin === null ? null : Math.abs(margin) > spread,
    });
  }
  return rows;
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
function fmt(value: number, unit: string): string {
  return unit === 'µs' ? `${value.toFixed(1)} µs` : `${int.format(value)}`;
}

function render(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function figureTable(rows: FigureRow[], peers: readonly Peer[]): string {
  const shown = peers.filter((p) => rows.some((r) => r.peers[p] !== undefined));
  const body = rows
    .filter((r) => Object.keys(r.peers).length > 0)
    .map((r) => [
      `${r.label} (${r.unit})`,
      ...shown.map((p) => {
        const f = r.peers[p];
        return f === undefined ? '-' : `${fmt(f.median, r.unit)} ±${f.spreadPct.toFixed(0)}%`;
      }),
    ]);
  return render(['measurement (median ±spread)', ...shown], body);
}

export function ratioTable(rows: RatioRow[]): string {
  const body = rows.map((r) => [
    `${r.label}: picluster / ${r.of}`,
    r.ratio.toFixed(3),
    `±${r.spread.toFixed(3)}`,
    r.target ?? '-',
    r.pass === null ? 'info' : r.pass ? 'PASS' : 'MISS',
    r.margin === null ? '-' : `${r.margin >= 0 ? '+' : ''}${r.margin.toFixed(3)}`,
    r.marginExceedsSpread === null ? '-' : r.marginExceedsSpread ? 'yes' : 'no',
  ]);
  return render(['ratio', 'median', 'spread', 'target', 'result', 'margin', '|margin| > spread'], body);
}
