// The node page's charts, as data: which fields of a vitals point each chart draws, how its values
// and axis read, whether it gets a min–max band, its y range, and which nodes it applies to.

import * as fmt from './format.js';

export const CHART_DEFS = [
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
