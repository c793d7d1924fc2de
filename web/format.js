// Number, size, duration and time formatting shared by the pages. Every function takes what the
// API sends (numbers, maybe missing) and returns a short string; a missing value is an en dash.

export const NONE = '–';

const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

export function percent(x) {
  if (!isNum(x)) return NONE;
  return `${x < 9.95 ? x.toFixed(1) : Math.round(x)}%`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(n) {
  if (!isNum(n)) return NONE;
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 || v >= 9.95 ? Math.round(v) : v.toFixed(1)} ${UNITS[i]}`;
}

export function temp(c) {
  return isNum(c) ? `${c.toFixed(1)} °C` : NONE;
}

export function mhz(x) {
  return isNum(x) ? `${Math.round(x)} MHz` : NONE;
}

export function load(x) {
  return isNum(x) ? x.toFixed(2) : NONE;
}

/** Seconds as the two largest units: "3 d 4 h", "4 h 12 min", "12 min", "45 s". */
export function duration(s) {
  if (!isNum(s) || s < 0) return NONE;
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  if (d > 0) return hr > 0 ? `${d} d ${hr} h` : `${d} d`;
  if (hr > 0) return min > 0 ? `${hr} h ${min} min` : `${hr} h`;
  if (min > 0) return `${min} min`;
  return `${Math.floor(s)} s`;
}

/** How long ago `ms` milliseconds is: "just now", "12 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function ago(ms) {
  if (!isNum(ms)) return NONE;
  const s = Math.max(0, ms / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** An epoch-ms time: the time alone when it is today, else date and time. */
export function when(ms) {
  if (!isNum(ms)) return NONE;
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

/** Date and time in full (for tooltips; a cached formatter: toLocaleString builds one per call). */
export function full(ms) {
  return isNum(ms) ? dateTimeFmt.format(new Date(ms)) : '';
}

/** ISO time for title attributes and <time datetime>. */
export function iso(ms) {
  return isNum(ms) ? new Date(ms).toISOString() : '';
}

/** RAM used as a percentage of the node's total, or undefined. */
export function ramUsedPercent(node) {
  const total = node.info?.ramTotalBytes;
  const avail = node.vitals?.ramAvailableBytes;
  if (!isNum(total) || total <= 0 || !isNum(avail)) return undefined;
  return Math.min(100, Math.max(0, (1 - avail / total) * 100));
}

/** Milliseconds for short spans: "84 ms", "2.4 s", "38 s", then as duration(): "4 min", "1 h 3 min". */
export function ms(x) {
  if (!isNum(x) || x < 0) return NONE;
  if (x < 1000) return `${Math.round(x)} ms`;
  if (x < 10_000) return `${(x / 1000).toFixed(1)} s`;
  return duration(x / 1000);
}
