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

type Labels = Record<string, string>;
type MetricType = 'gauge' | 'counter';
type Aggregator = 'sum' | 'first';

/** One series as prom-client's Registry reads it; `sharedLabels` are printed after `labels`. */
interface Sample {
  labels: Labels;
  sharedLabels?: Labels;
  value: number;
}

interface Collected {
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
interface ScrapeTimeMetric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator: Aggregator;
  getForPromString(): Promise<Collected>;
  get(): Promise<Collected>;
  /** There is nothing kept between scrapes to reset. */
  reset(): void;
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

const NO_LABELS: Labels = Object.freeze({}) as Labels;

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

/** One unlabelled series read at scrape time; absent while `read` returns undefined. */
function scalar(name: string, help: string, type: MetricType, read: () => number | undefined): ScrapeTimeMetric {
  const aggregator = type === 'counter' ? 'sum' : 'first';
  const collect = (): Collected => {
    const value = read();
    return { name, help, type, values: value === undefined ? [] : [{ labels: NO_LABELS, value }], aggregator };
  };
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

/** The web server's own counters (live streams). */
export interface WebStats {
  /** Live-stream clients now. */
  streams: number;
  /** Stream requests refused at the cap (503). */
  streamsRefused: number;
}

function internalMetrics(cluster: ClusterView, web: Readonly<WebStats>): ScrapeTimeMetric[] {
  const { stats } = cluster;
  const writer = () => cluster.writerStats;
  return [
    scalar('picluster_connected_nodes', 'Nodes with a live session.', 'gauge', () => cluster.onlineCount),
    scalar(
      'picluster_known_nodes',
      'Nodes the primary knows (in any state: online, lost, left, pending, denied).',
      'gauge',
      () => cluster.nodeCount,
    ),
    scalar(
      'picluster_frames_received_total',
      'Frames received from authenticated nodes.',
      'counter',
      () => stats.framesIn,
    ),
    scalar(
      'picluster_connections_accepted_total',
      'TCP connections accepted on the cluster port.',
      'counter',
      () => stats.accepted,
    ),
    scalar(
      'picluster_rejected_openings_total',
      'Connections closed before their handshake: no picluster magic, or no opening within the handshake timeout.',
      'counter',
      () => stats.rejectedOpenings,
    ),
    scalar(
      'picluster_handshake_failures_total',
      'Handshakes not finished in time.',
      'counter',
      () => stats.handshakeFailures,
    ),
    scalar('picluster_auth_failures_total', 'Nodes refused for bad credentials.', 'counter', () => stats.authFailures),
    scalar('picluster_web_streams', 'Live-stream (/api/stream) clients now.', 'gauge', () => web.streams),
    scalar(
      'picluster_web_streams_refused_total',
      'Live-stream requests refused because limits.maxStreams clients were connected (503).',
      'counter',
      () => web.streamsRefused,
    ),
    scalar(
      'picluster_handshakes_waiting',
      'Connections waiting for a handshake slot (all limits.maxHandshakes in use).',
      'gauge',
      () => stats.handshakesWaiting,
    ),
    scalar(
      'picluster_handshake_queue_dropped_total',
      'Connections closed while waiting for a handshake slot: the wait was full, or took half the handshake timeout.',
      'counter',
      () => stats.handshakeQueueFull + stats.handshakeQueueExpired,
    ),
    scalar(
      'picluster_tls_handshakes_total',
      'TLS handshakes finished on the cluster port.',
      'counter',
      () => stats.tlsHandshakes,
    ),
    scalar(
      'picluster_tls_resumed_total',
      'TLS handshakes on the cluster port that resumed a session (no certificate sent, cheaper).',
      'counter',
      () => stats.tlsResumed,
    ),
    scalar(
      'picluster_tls_failures_total',
      'TLS handshakes on the cluster port that failed (a missing or untrusted node certificate, garbage, a timeout).',
      'counter',
      () => stats.tlsFailures,
    ),
    scalar(
      'picluster_reconnects_total',
      'Sessions of nodes the primary already knew.',
      'counter',
      () => stats.reconnects,
    ),
    scalar(
      'picluster_vitals_duplicates_total',
      'Vitals samples received again after being stored (resends after a reconnect).',
      'counter',
      () => stats.duplicates,
    ),
    scalar(
      'picluster_vitals_stored_total',
      'Vitals samples committed to the store.',
      'counter',
      () => writer()?.samples,
    ),
    scalar('picluster_store_commits_total', 'Vitals transactions committed.', 'counter', () => writer()?.commits),
    scalar(
      'picluster_store_busy_retries_total',
      'Vitals commits retried because another process held the database lock.',
      'counter',
      () => writer()?.busyRetries,
    ),
    scalar(
      'picluster_store_write_failures_total',
      'Vitals transactions that failed.',
      'counter',
      () => writer()?.failures,
    ),
    scalar(
      'picluster_store_full',
      "1 while the store's disk is full: vitals wait unacknowledged (nodes keep the rest) and are retried.",
      'gauge',
      () => writer()?.full,
    ),
    scalar(
      'picluster_store_full_retries_total',
      'Vitals commits retried because the disk of the store was full.',
      'counter',
      () => writer()?.fullRetries,
    ),
    scalar(
      'picluster_data_dir_free_bytes',
      "Bytes free on the data dir's disk (for an unprivileged writer), at the last reading.",
      'gauge',
      () => cluster.disk?.freeBytes,
    ),
    scalar(
      'picluster_data_dir_size_bytes',
      "Size of the data dir's disk, in bytes.",
      'gauge',
      () => cluster.disk?.totalBytes,
    ),
    scalar(
      'picluster_store_node_changes_held',
      'Node state changes and events waiting for the store (locked by another process, or its disk full).',
      'gauge',
      () => cluster.nodeWriterStats?.held,
    ),
    scalar(
      'picluster_store_node_changes_dropped_total',
      'Node changes dropped: more were held for a locked database than its bound (100,000).',
      'counter',
      () => cluster.nodeWriterStats?.dropped,
    ),
    // A gauge of the latest commit: the writer keeps only that duration, and a summary or
    // histogram needs every commit observed as it happens (a hook in VitalsWriter).
    scalar('picluster_store_write_seconds', 'Duration of the latest vitals commit, in seconds.', 'gauge', () => {
      const stats = writer();
      return stats && stats.commits > 0 ? stats.lastCommitMs / MS_PER_S : undefined;
    }),
  ];
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
