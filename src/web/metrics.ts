// Prometheus metrics of a primary (GET /metrics). Per-node series are built at scrape time from the
// primary's registry: nothing per node or per series lives between scrapes, so 10,000 nodes cost
// the primary no memory here until someone scrapes. One prom-client Registry per call, never the
// global. prom-client renders the primary's internals and process metrics, and would render the
// per-node metrics too (they are registered, for registry.metrics() and its JSON); but a scrape at
// 10,000 nodes is ~290,000 series, ~30 MB, and prom-client makes half a dozen objects per series in
// one synchronous pass (a second of event loop and ~100 MB of garbage). So `chunks()` prints the
// per-node series itself, a metric and 1,000 nodes at a time, yielding to the event loop between
// pieces, with each node's label text escaped once per scrape; a test checks the result is byte
// for byte prom-client's own rendering of the same registry.

import { Counter, collectDefaultMetrics, type Metric, Registry } from 'prom-client';
import type { ClusterView } from '../primary/cluster-view.js';
import type { NodeView } from '../protocol/node-view.js';
import { THROTTLE_FLAG_NAMES } from '../protocol/throttle.js';
import { alertMetrics } from './alert-metrics.js';
import { internalMetrics, type WebStats } from './internal-metrics.js';
import {
  type Collected,
  type Labels,
  type MetricType,
  NO_LABELS,
  type Sample,
  type ScrapeTimeMetric,
} from './scrape-metric.js';

export type { WebStats } from './internal-metrics.js';

export interface Metrics {
  /** This primary's own prom-client registry (internals, per-node series, process metrics). */
  readonly registry: Registry;
  /** The exposition text of every metric, built now. */
  render(): Promise<string>;
  /** The same text in pieces, built as they are read (a slice of nodes at a time). */
  chunks(): AsyncGenerator<string>;
  /** The Content-Type of `render()`'s text. */
  readonly contentType: string;
}

/** Adds one series of a node: `extra` labels (flag, mount, iface) after node_id and node_name. */
type Emit = (value: number, extra?: Labels) => void;

interface NodeMetric {
  name: string;
  help: string;
  type: MetricType;
  /** Emits this node's series; emits nothing when the node lacks the value (absent, never 0). */
  series(node: Readonly<NodeView>, emit: Emit): void;
}

const MS_PER_S = 1000;
const HZ_PER_MHZ = 1e6;

/** A per-node metric of one series per node, absent when `value` is undefined. */
function single(
  name: string,
  help: string,
  value: (node: Readonly<NodeView>) => number | undefined,
  type: MetricType = 'gauge',
): NodeMetric {
  return {
    name,
    help,
    type,
    series(node, emit) {
      const v = value(node);
      if (v !== undefined) emit(v);
    },
  };
}

/** A per-node metric of one series per item of a node's list (disks, interfaces), with its own labels. */
function perItem<T>(
  name: string,
  help: string,
  type: MetricType,
  items: (node: Readonly<NodeView>) => readonly T[] | undefined,
  series: (item: T) => [value: number, labels: Labels],
): NodeMetric {
  return {
    name,
    help,
    type,
    series(node, emit) {
      for (const item of items(node) ?? []) emit(...series(item));
    },
  };
}

const KNOWN_FLAGS: ReadonlySet<string> = new Set(THROTTLE_FLAG_NAMES);

type Throttled = NonNullable<NonNullable<Readonly<NodeView>['vitals']>['throttled']>;

/**
 * A per-node metric of the throttle flags in `flags` (now or since boot): a 0/1 series for each
 * known flag, plus a 1 for any other flag active (a newer node's); nothing without the flags.
 */
function throttleFlags(name: string, help: string, flags: (throttled: Throttled) => readonly string[]): NodeMetric {
  return {
    name,
    help,
    type: 'gauge',
    series(node, emit) {
      const throttled = node.vitals?.throttled;
      if (!throttled) return;
      const active = flags(throttled);
      for (const flag of THROTTLE_FLAG_NAMES) emit(active.includes(flag) ? 1 : 0, { flag });
      for (const flag of new Set(active)) if (!KNOWN_FLAGS.has(flag)) emit(1, { flag });
    },
  };
}

/** Every per-node metric, in exposition order. */
const NODE_METRICS: readonly NodeMetric[] = [
  single('picluster_node_up', 'Whether the node has a live session with this primary (1) or not (0).', (n) =>
    n.state === 'online' ? 1 : 0,
  ),
  single('picluster_node_cpu_usage_percent', 'CPU busy share over the last vitals period, in percent.', (n) =>
    n.vitals ? n.vitals.cpuPercent : undefined,
  ),
  single('picluster_node_cpu_frequency_hertz', 'Current CPU clock frequency in hertz.', (n) =>
    n.vitals?.cpuMhz === undefined ? undefined : n.vitals.cpuMhz * HZ_PER_MHZ,
  ),
  single('picluster_node_memory_available_bytes', 'Memory available for new work (MemAvailable), in bytes.', (n) =>
    n.vitals ? n.vitals.ramAvailableBytes : undefined,
  ),
  single('picluster_node_memory_total_bytes', 'Total memory of the node (from its machine info), in bytes.', (n) =>
    n.info ? n.info.ramTotalBytes : undefined,
  ),
  single('picluster_node_swap_free_bytes', 'Free swap space in bytes.', (n) =>
    n.vitals ? n.vitals.swapFreeBytes : undefined,
  ),
  single('picluster_node_swap_total_bytes', 'Total swap space (from machine info), in bytes.', (n) =>
    n.info ? n.info.swapTotalBytes : undefined,
  ),
  single('picluster_node_load1', 'Load average over 1 minute.', (n) => (n.vitals ? n.vitals.load1 : undefined)),
  single('picluster_node_load5', 'Load average over 5 minutes.', (n) => (n.vitals ? n.vitals.load5 : undefined)),
  single('picluster_node_load15', 'Load average over 15 minutes.', (n) => (n.vitals ? n.vitals.load15 : undefined)),
  single('picluster_node_uptime_seconds', 'Time since the node booted, in seconds.', (n) =>
    n.vitals ? n.vitals.uptimeS : undefined,
  ),
  single('picluster_node_temperature_celsius', 'SoC temperature in degrees Celsius.', (n) => n.vitals?.tempC),
  single(
    'picluster_node_agent_resident_memory_bytes',
    "The picluster agent's own resident memory on the node (what monitoring costs it).",
    (n) => n.vitals?.agentRssBytes,
  ),
  single(
    'picluster_node_agent_cpu_usage_percent',
    "The picluster agent's own CPU since its previous sample, in percent of one core.",
    (n) => n.vitals?.agentCpuPercent,
  ),
  throttleFlags(
    'picluster_node_throttled',
    'Throttle flags active now (1) or not (0), per flag (Raspberry Pi firmware).',
    (t) => t.now,
  ),
  throttleFlags(
    'picluster_node_throttled_since_boot',
    'Throttle flags that occurred since boot (1) or not (0), per flag (Raspberry Pi firmware).',
    (t) => t.sinceBoot,
  ),
  perItem(
    'picluster_node_disk_free_bytes',
    'Free space of a mounted filesystem, in bytes.',
    'gauge',
    (n) => n.vitals?.disks,
    (disk) => [disk.freeBytes, { mount: disk.mount }],
  ),
  perItem(
    'picluster_node_disk_size_bytes',
    'Size of a mounted filesystem, in bytes.',
    'gauge',
    (n) => n.vitals?.disks,
    (disk) => [disk.totalBytes, { mount: disk.mount }],
  ),
  perItem(
    'picluster_node_network_receive_bytes_total',
    'Bytes received on a network interface since boot.',
    'counter',
    (n) => n.vitals?.nets,
    (net) => [net.rxBytes, { iface: net.iface }],
  ),
  perItem(
    'picluster_node_network_transmit_bytes_total',
    'Bytes sent on a network interface since boot.',
    'counter',
    (n) => n.vitals?.nets,
    (net) => [net.txBytes, { iface: net.iface }],
  ),
  single(
    'picluster_node_last_seen_timestamp_seconds',
    'When the primary last heard from the node, in seconds since the Unix epoch.',
    (n) => n.lastSeen / MS_PER_S,
  ),
  single(
    'picluster_node_clock_skew_seconds',
    "The node's wall clock minus the primary's, in seconds, measured when its latest sample was sent " +
      '(a node without a real-time clock shows a large value); for a node that does not say when it ' +
      "sent a sample (legacy), the latest sample's timestamp minus its time of receipt.",
    (n) =>
      n.clockSkewMs !== null
        ? n.clockSkewMs / MS_PER_S
        : n.vitals && !n.legacy
          ? (n.vitals.ts - n.vitals.receivedAt) / MS_PER_S
          : undefined,
  ),
  single(
    'picluster_node_vitals_dropped_total',
    "Samples the node dropped because its outbox was full (as of the node's latest sample).",
    (n) => n.vitals?.dropped,
    'counter',
  ),
];

/** Renders `metric`'s series for every node the primary knows, at scrape time. */
function nodeMetric(cluster: ClusterView, metric: NodeMetric): ScrapeTimeMetric {
  const { name, help, type } = metric;
  // The primary is one process (no prom-client cluster aggregation): any aggregator would do;
  // 'first' says a node's value is not a sum over workers.
  const aggregator = 'first';
  const collect = (merge: boolean): Collected => {
    const values: Sample[] = [];
    for (const node of cluster.nodeRecords()) {
      const nodeLabels = { node_id: node.id, node_name: node.name };
      metric.series(node, (value, extra) => {
        values.push(
          merge
            ? { labels: { ...nodeLabels, ...extra }, value }
            : { labels: extra ?? NO_LABELS, sharedLabels: nodeLabels, value },
        );
      });
    }
    return { name, help, type, values, aggregator };
  };
  return {
    name,
    help,
    type,
    aggregator,
    // The text exposition (Registry.metrics) prefers this one; get() serves getMetricsAsJSON.
    getForPromString: async () => collect(false),
    get: async () => collect(true),
    reset() {},
  };
}

/** The metrics of a primary (its `cluster` view), in a registry of their own. */
export function createMetrics(
  cluster: ClusterView,
  web: Readonly<WebStats> = { streams: 0, streamsRefused: 0 },
): Metrics {
  const registry = new Registry();
  // prom-client never stops its GC observer and event-loop monitor: they keep their registry alive
  // for the life of the process. Giving them a registry of their own keeps the primary out of that.
  const processRegistry = new Registry();
  collectDefaultMetrics({ register: processRegistry, prefix: 'picluster_' });
  for (const metric of internalMetrics(cluster, web)) registry.registerMetric(metric as unknown as Metric);
  for (const metric of alertMetrics(cluster)) registry.registerMetric(metric as unknown as Metric);
  const perNode = new Map(NODE_METRICS.map((m) => [m.name, m]));
  for (const metric of NODE_METRICS) registry.registerMetric(nodeMetric(cluster, metric) as unknown as Metric);
  for (const metric of processRegistry.getMetricsAsArray()) {
    // prom-client's nodejs_active_{handles,requests,resources}_total are gauges (sums of the
    // per-type gauges it also exports): promtool rejects a gauge named *_total, so they are left out.
    if (metric.name.endsWith('_total') && !(metric instanceof Counter)) continue;
    registry.registerMetric(metric as unknown as Metric);
  }
  /** Registry.metrics()'s text (metrics joined by a blank line, then a newline), piece by piece. */
  async function* chunks(): AsyncGenerator<string> {
    const nodes = [...cluster.nodeRecords()];
    // Each node's {node_id, node_name} text, escaped once per scrape.
    const labelText = new Map<Readonly<NodeView>, string>();
    const metrics = registry.getMetricsAsArray();
    for (const [i, metric] of metrics.entries()) {
      const own = perNode.get(metric.name);
      if (own === undefined) {
        yield await registry.getSingleMetricAsString(metric.name);
      } else {
        yield `# HELP ${escapeText(own.name)} ${escapeText(own.help)}\n# TYPE ${escapeText(own.name)} ${own.type}`;
        for (let from = 0; from < nodes.length; from += SCRAPE_SLICE_NODES) {
          const text = renderSeries(own, nodes.slice(from, from + SCRAPE_SLICE_NODES), labelText);
          if (text) yield text;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      yield i === metrics.length - 1 ? '\n' : '\n\n';
    }
  }
  return {
    registry,
    render: async () => {
      let text = '';
      for await (const chunk of chunks()) text += chunk;
      return text;
    },
    chunks,
    contentType: registry.contentType,
  };
}

/** Nodes per piece of a scrape: a few milliseconds of rendering between turns of the event loop. */
const SCRAPE_SLICE_NODES = 1000;

/**
 * The series of `metric` for `nodes`, each line after a newline, exactly as prom-client's
 * Registry prints a value with `labels` (extra) and `sharedLabels` {node_id, node_name}:
 * `name{extra...,node_id="…",node_name="…"} value`.
 */
function renderSeries(
  metric: NodeMetric,
  nodes: readonly Readonly<NodeView>[],
  labelText: Map<Readonly<NodeView>, string>,
): string {
  let text = '';
  let shared = '';
  const emit: Emit = (value, extra) => {
    let labels = '';
    if (extra) for (const [key, v] of Object.entries(extra)) labels += `${key}="${escapeLabelValue(v)}",`;
    text += `\n${metric.name}{${labels}${shared}} ${valueText(value)}`;
  };
  for (const node of nodes) {
    let known = labelText.get(node);
    if (known === undefined) {
      known = `node_id="${escapeLabelValue(node.id)}",node_name="${escapeLabelValue(node.name)}"`;
      labelText.set(node, known);
    }
    shared = known;
    metric.series(node, emit);
  }
  return text;
}

/** prom-client's escaping of names and help text (backslash, newline). */
function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** prom-client's escaping of label values (also the double quote). */
function escapeLabelValue(text: string): string {
  return escapeText(text).replace(/"/g, '\\"');
}

/** prom-client's printing of a value (its "Nan" included). */
function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}
