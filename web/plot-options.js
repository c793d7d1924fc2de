// uPlot options for one of the node page's charts: a line per field, a shaded min–max band when
// points stand for several samples, the colours of the current theme, and a y axis as wide as its
// labels.

import * as fmt from './format.js';

export const PLOT_HEIGHT_PX = 170;

/** The chart colours, read from CSS so a light or dark theme applies (charts redraw on a change). */
export function readChartTheme() {
  return {
    colors: [cssVar('--chart-1'), cssVar('--chart-2'), cssVar('--chart-3')],
    axis: cssVar('--muted'),
    grid: cssVar('--grid'),
    bandFill: cssVar('--chart-band'),
  };
}

/** `banded`: the points stand for several samples each (rollups, or raw grouped by the step). */
export function plotOptions(def, { banded, width, theme }) {
  const { colors, axis, grid, bandFill } = theme;
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
  return {
    width: Math.max(150, width),
    height: PLOT_HEIGHT_PX,
    series,
    bands,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y: def.range ? { range: def.range } : def.zero ? { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } : {},
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
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
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
