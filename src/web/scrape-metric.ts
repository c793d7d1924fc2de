// The shape of a metric that prom-client's Registry reads but that keeps nothing between scrapes:
// its series are read from the primary when a scrape asks. metrics.ts builds the per-node ones,
// internal-metrics.ts the primary's own counters with scalar().

export type Labels = Record<string, string>;
export type MetricType = 'gauge' | 'counter';
export type Aggregator = 'sum' | 'first';

/** One series as prom-client's Registry reads it; `sharedLabels` are printed after `labels`. */
export interface Sample {
  labels: Labels;
  sharedLabels?: Labels;
  value: number;
}

export interface Collected {
  name: string;
  help: string;
  type: MetricType;
  values: Sample[];
  aggregator: Aggregator;
}

/**
 * What prom-client's Registry reads from a metric (lib/registry.js): `name` to register it,
 * `getForPromString()` (else `get()`) for the text, `get()` for JSON, `reset()` for resetMetrics().
 */
export interface ScrapeTimeMetric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator: Aggregator;
  getForPromString(): Promise<Collected>;
  get(): Promise<Collected>;
  /** There is nothing kept between scrapes to reset. */
  reset(): void;
}

export const NO_LABELS: Labels = Object.freeze({}) as Labels;

/** One unlabelled series read at scrape time; absent while `read` returns undefined. */
export function scalar(name: string, help: string, type: MetricType, read: () => number | undefined): ScrapeTimeMetric {
  return labelled(name, help, type, () => {
    const value = read();
    return value === undefined ? [] : [{ labels: NO_LABELS, value }];
  });
}

/** A labelled metric read at scrape time: `read` gives every series it has now. */
export function labelled(name: string, help: string, type: MetricType, read: () => Sample[]): ScrapeTimeMetric {
  const aggregator = type === 'counter' ? 'sum' : 'first';
  const collect = (): Collected => ({ name, help, type, values: read(), aggregator });
  return {
    name,
    help,
    type,
    aggregator,
    getForPromString: async () => collect(),
    get: async () => collect(),
    reset() {},
  };
}
