// The numbers behind the node page's charts, without the DOM: the vitals API's points as uPlot
// columns (holes broken, min and max for the band), and a live sample merged into those points
// the way the API groups raw samples, so the 1 h charts can grow without a refetch.

import { CHART_DEFS } from './chart-defs.js';

/** As the primary: a node clock more than this far off is not trusted to file a sample. */
const MAX_SKEW_MS = 86_400_000;

/**
 * uPlot's columns for one chart: x (seconds), the fields, then max and min when banded (and the
 * chart has a band); gaps become nulls.
 */
export function chartData(def, points, stepMs, banded) {
  const withBand = banded && def.band;
  const cols = [[], ...def.fields.map(() => []), ...(withBand ? [[], []] : [])];
  const step = gapStep(points, stepMs);
  let prevTs;
  for (const p of points) {
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
    if (withBand) {
      const f = def.fields[0];
      cols[def.fields.length + 1].push(num(p.max?.[f] ?? p[f]));
      cols[def.fields.length + 2].push(num(p.min?.[f] ?? p[f]));
    }
  }
  return cols;
}

/** How many values a column of chartData holds (its gaps left out). */
export function countValues(column) {
  return column.filter((y) => y !== null && y !== undefined).length;
}

/**
 * Merges a live sample into `points` (in place) as the API groups raw samples: buckets of stepMs
 * holding mean, min and max; then drops the points older than rangeMs before it. Returns the
 * point the sample went into, or undefined when it is older than the last point drawn.
 */
export function mergeSample(points, sample, stepMs, rangeMs) {
  const ts = sampleTime(sample);
  const step = Math.max(1, stepMs ?? 1);
  const bucket = Math.floor(ts / step) * step;
  let point = points.at(-1);
  if (point && bucket < point.ts) return undefined;
  if (!point || bucket > point.ts) {
    point = { ts: bucket, n: 0, min: {}, max: {} };
    points.push(point);
  }
  const n = point.n;
  for (const def of CHART_DEFS) {
    for (const f of def.fields) {
      const x = sample[f];
      if (typeof x !== 'number') continue;
      point[f] = typeof point[f] === 'number' && n > 0 ? (point[f] * n + x) / (n + 1) : x;
      point.min[f] = Math.min(point.min[f] ?? x, x);
      point.max[f] = Math.max(point.max[f] ?? x, x);
    }
  }
  point.n = n + 1;
  const from = ts - rangeMs;
  while (points.length && points[0].ts < from) points.shift();
  return point;
}

/** The time a sample is filed under (as the primary does): the node's clock unless a day off. */
function sampleTime(s) {
  return typeof s.receivedAt === 'number' && Math.abs(s.ts - s.receivedAt) > MAX_SKEW_MS ? s.receivedAt : s.ts;
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
