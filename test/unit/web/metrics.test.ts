// /metrics of a primary: the series of two in-process secondaries (one Pi with temperature and
// throttle flags, one box without), up going to 0 when a node leaves, label escaping, one registry
// per primary, and, for 10,000 nodes, nothing kept per node between scrapes plus the render time.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { register as globalRegistry } from 'prom-client';
import { Primary } from '../../../src/primary/primary.js';
import { createMetrics, type Metrics } from '../../../src/web/metrics.js';
import { createApp } from '../../../src/web/server.js';
import { FAST_COMMIT, tempDir, waitUntil } from '../../helpers/cluster.js';
import {
  fakeNodeRecord,
  PI_CLOCK_AHEAD_MS,
  parseExposition,
  samplesOf,
  sampleValue,
  startFakeCluster,
} from '../../helpers/prometheus.js';

const NODES = 10_000;

/** A primary that is never started: its registry is filled by hand. */
function idlePrimary(dir: string): Primary {
  return new Primary({
    ...FAST_COMMIT,
    dataDir: join(dir, 'idle'),
    port: 0,
    token: 'unused-token-unused-token-unused',
  });
}

describe('createMetrics', () => {
  it('renders the series of two secondaries, absent where a vital is missing; up 0 once one leaves', async (t) => {
    const { primary, pi, box } = await startFakeCluster(t, tempDir(t));
    // Shown at receipt, stored within the commit window: the counters below need a commit.
    await waitUntil(() => (primary.writerStats?.samples ?? 0) >= 2, 10_000, 'samples stored');
    const metrics = createMetrics(primary);
    const text = await metrics.render();
    const s = parseExposition(text);
    const piL = { node_id: pi.nodeId, node_name: 'pi-hot' };
    const boxL = { node_id: box.nodeId, node_name: 'box-plain' };

    const expectedPi: Array<[string, number, Record<string, string>?]> = [
      ['picluster_node_up', 1],
      ['picluster_node_cpu_usage_percent', 12.5],
      ['picluster_node_cpu_frequency_hertz', 1.5e9],
      ['picluster_node_memory_available_bytes', 3e9],
      ['picluster_node_memory_total_bytes', 4e9],
      ['picluster_node_swap_free_bytes', 1e8],
      ['picluster_node_swap_total_bytes', 2e8],
      ['picluster_node_load1', 0.5],
      ['picluster_node_load5', 0.25],
      ['picluster_node_load15', 0.125],
      ['picluster_node_uptime_seconds', 3600],
      ['picluster_node_temperature_celsius', 48.5],
      ['picluster_node_throttled', 1, { flag: 'under-voltage' }],
      ['picluster_node_throttled', 0, { flag: 'freq-capped' }],
      ['picluster_node_throttled', 0, { flag: 'throttled' }],
      ['picluster_node_throttled', 0, { flag: 'soft-temp-limit' }],
      ['picluster_node_throttled_since_boot', 1, { flag: 'under-voltage' }],
      ['picluster_node_throttled_since_boot', 1, { flag: 'freq-capped' }],
      ['picluster_node_throttled_since_boot', 0, { flag: 'throttled' }],
      ['picluster_node_throttled_since_boot', 0, { flag: 'soft-temp-limit' }],
      ['picluster_node_disk_free_bytes', 2e10, { mount: '/' }],
      ['picluster_node_disk_size_bytes', 3e10, { mount: '/' }],
      ['picluster_node_disk_free_bytes', 4e8, { mount: '/boot/firmware' }],
      ['picluster_node_disk_size_bytes', 5e8, { mount: '/boot/firmware' }],
      ['picluster_node_network_receive_bytes_total', 123_456, { iface: 'eth0' }],
      ['picluster_node_network_transmit_bytes_total', 654_321, { iface: 'eth0' }],
      ['picluster_node_vitals_dropped_total', 3],
    ];
    for (const [name, value, extra] of expectedPi) {
      assert.equal(
        sampleValue(s, name, { ...piL, ...extra }),
        value,
        `${name} ${JSON.stringify(extra ?? {})} of pi-hot`,
      );
    }
    // The agent's own memory, measured by the (real) secondary itself.
    const rss = sampleValue(s, 'picluster_node_agent_resident_memory_bytes', piL);
    assert.ok(rss !== undefined && rss > 10e6 && rss < 4e9, `agent RSS ${rss}`);
    assert.equal(samplesOf(s, 'picluster_node_throttled', piL).length, 4);

    assert.equal(sampleValue(s, 'picluster_node_up', boxL), 1);
    assert.equal(sampleValue(s, 'picluster_node_cpu_usage_percent', boxL), 87.25);
    assert.equal(sampleValue(s, 'picluster_node_memory_total_bytes', boxL), 16e9);
    assert.equal(sampleValue(s, 'picluster_node_swap_total_bytes', boxL), 0, 'a real 0 is still a series');
    assert.equal(sampleValue(s, 'picluster_node_network_receive_bytes_total', { ...boxL, iface: 'enp1s0' }), 1);
    for (const absent of [
      'picluster_node_temperature_celsius',
      'picluster_node_cpu_frequency_hertz',
      'picluster_node_throttled',
      'picluster_node_throttled_since_boot',
      'picluster_node_vitals_dropped_total',
    ]) {
      assert.deepEqual(samplesOf(s, absent, boxL), [], `${absent} must be absent for box-plain`);
    }
    assert.equal(samplesOf(s, 'picluster_node_temperature_celsius').length, 1);

    // Pi's clock runs 5 s ahead; the box's agrees with the primary (give or take the transit).
    const piSkew = sampleValue(s, 'picluster_node_clock_skew_seconds', piL) as number;
    const boxSkew = sampleValue(s, 'picluster_node_clock_skew_seconds', boxL) as number;
    assert.ok(Math.abs(piSkew - PI_CLOCK_AHEAD_MS / 1000) < 1, `pi skew ${piSkew}`);
    assert.ok(Math.abs(boxSkew) < 1, `box skew ${boxSkew}`);
    // The same measure on the node object, from the node's wall clock when it sent the sample.
    const piClock = primary.node(pi.nodeId)?.clockSkewMs as number;
    assert.ok(Math.abs(piClock - PI_CLOCK_AHEAD_MS) < 1000, `pi clockSkewMs ${piClock}`);
    const seenS = sampleValue(s, 'picluster_node_last_seen_timestamp_seconds', piL) as number;
    assert.ok(Math.abs(seenS - Date.now() / 1000) < 10, `last seen ${seenS}`);

    assert.equal(sampleValue(s, 'picluster_known_nodes'), 2);
    assert.equal(sampleValue(s, 'picluster_connected_nodes'), 2);
    assert.ok((sampleValue(s, 'picluster_connections_accepted_total') as number) >= 2);
    assert.ok((sampleValue(s, 'picluster_frames_received_total') as number) >= 2);
    assert.ok((sampleValue(s, 'picluster_vitals_stored_total') as number) >= 2);
    assert.ok((sampleValue(s, 'picluster_store_commits_total') as number) >= 1);
    assert.ok((sampleValue(s, 'picluster_store_write_seconds') as number) >= 0);
    assert.equal(sampleValue(s, 'picluster_store_write_failures_total'), 0);
    assert.equal(sampleValue(s, 'picluster_store_node_changes_held'), 0);
    assert.equal(sampleValue(s, 'picluster_store_node_changes_dropped_total'), 0);
    assert.equal(sampleValue(s, 'picluster_auth_failures_total'), 0);
    assert.ok((sampleValue(s, 'picluster_process_resident_memory_bytes') as number) > 0);
    assert.ok(sampleValue(s, 'picluster_nodejs_eventloop_lag_seconds') !== undefined);
    assert.match(text, /^# TYPE picluster_node_network_receive_bytes_total counter$/m);
    assert.match(text, /^# TYPE picluster_node_cpu_usage_percent gauge$/m);

    // The HTTP route serves the same text with the exposition's content type.
    const response = await createApp(primary).request('/metrics');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(sampleValue(parseExposition(await response.text()), 'picluster_node_up', piL), 1);

    const left = once(primary, 'node');
    await box.stop();
    await left;
    await waitUntil(() => primary.registry.get(box.nodeId)?.state === 'left', 5_000, 'box-plain left');
    const after = parseExposition(await metrics.render());
    assert.equal(sampleValue(after, 'picluster_node_up', boxL), 0);
    assert.equal(sampleValue(after, 'picluster_node_up', piL), 1);
    assert.equal(sampleValue(after, 'picluster_connected_nodes'), 1);
    assert.equal(sampleValue(after, 'picluster_known_nodes'), 2);
  });

  it('escapes label values through prom-client, and get() (JSON) carries the node labels too', async (t) => {
    const primary = idlePrimary(tempDir(t));
    const record = fakeNodeRecord(1);
    record.name = 'pi "quoted" \\ back\nslash ünï';
    record.vitals = {
      ...(record.vitals as NonNullable<typeof record.vitals>),
      disks: [{ mount: '/mnt/we"ird\\dir', freeBytes: 1, totalBytes: 2 }],
      throttled: { now: ['some-future-flag'], sinceBoot: [] },
    };
    primary.registry.set(record);
    const metrics = createMetrics(primary);
    const text = await metrics.render();
    assert.ok(text.includes('node_name="pi \\"quoted\\" \\\\ back\\nslash ünï"'), 'escaped name in the text');
    const s = parseExposition(text);
    const labels = { node_id: record.id, node_name: record.name };
    assert.equal(sampleValue(s, 'picluster_node_disk_size_bytes', { ...labels, mount: '/mnt/we"ird\\dir' }), 2);
    assert.equal(sampleValue(s, 'picluster_node_throttled', { ...labels, flag: 'some-future-flag' }), 1);
    assert.equal(sampleValue(s, 'picluster_node_throttled', { ...labels, flag: 'under-voltage' }), 0);

    const json = await metrics.registry.getMetricsAsJSON();
    const up = json.find((m) => m.name === 'picluster_node_up');
    assert.deepEqual(up?.values, [{ labels, value: 1 }]);
  });

  it('a render that fails half-way cuts the scrape short and says why in the log', async (t) => {
    const primary = idlePrimary(tempDir(t));
    primary.registry.set(fakeNodeRecord(0));
    const broken = fakeNodeRecord(1);
    Object.defineProperty(broken, 'vitals', {
      get() {
        throw new Error('a broken record');
      },
    });
    primary.registry.set(broken);
    const logged: string[] = [];
    const log = (level: string) => (fields: object, message: string) =>
      logged.push(`${level} ${message} ${String((fields as { err?: Error }).err?.message)}`);
    const app = createApp(primary, { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') });
    const response = await app.request('/metrics');
    assert.equal(response.status, 200);
    await assert.rejects(response.text(), /a broken record/);
    assert.deepEqual(logged, ['error /metrics failed while rendering; the scrape was cut short a broken record']);
  });

  it('uses one registry per call, never the global one', async (t) => {
    const dir = tempDir(t);
    const a = idlePrimary(join(dir, 'a'));
    const b = idlePrimary(join(dir, 'b'));
    a.registry.set(fakeNodeRecord(1));
    b.registry.set(fakeNodeRecord(2));
    const ma = createMetrics(a);
    const mb = createMetrics(b);
    assert.notEqual(ma.registry, mb.registry);
    const [sa, sb] = [parseExposition(await ma.render()), parseExposition(await mb.render())];
    assert.equal(samplesOf(sa, 'picluster_node_up').length, 1);
    assert.equal(samplesOf(sa, 'picluster_node_up')[0]?.labels.node_id, fakeNodeRecord(1).id);
    assert.equal(samplesOf(sb, 'picluster_node_up')[0]?.labels.node_id, fakeNodeRecord(2).id);
    assert.equal(globalRegistry.getMetricsAsArray().length, 0);
  });

  it("a scrape rendered a slice of nodes at a time is byte for byte prom-client's own render", async (t) => {
    const primary = idlePrimary(tempDir(t));
    const now = Date.now();
    // 2,500 nodes: three slices, some of them with no series of a metric (no vitals, no info,
    // no throttle flags, no disks) and names that need escaping.
    for (let i = 0; i < 2500; i++) {
      const node = fakeNodeRecord(i, now);
      if (i >= 1000 && i < 2000) node.vitals = null;
      if (i >= 2000) node.info = null;
      if (i % 7 === 0) node.name = `odd "name" \\ ${i}\nline`;
      if (node.vitals && i >= 2000) node.vitals = { ...node.vitals, throttled: undefined, disks: [] };
      primary.registry.set(node);
    }
    const metrics = createMetrics(primary);
    const pieces: string[] = [];
    for await (const piece of metrics.chunks()) pieces.push(piece);
    const whole = await metrics.registry.metrics();
    assert.ok(pieces.length > 3 * 20, `${pieces.length} pieces`);
    // Process metrics (CPU, memory, lag) move between two renders: compare everything else.
    const steady = (text: string) =>
      text
        .split('\n')
        .filter((line) => !/^(# (HELP|TYPE) )?picluster_(process|nodejs)_/.test(line))
        .join('\n');
    const diff = (a: string, b: string) => {
      const [x, y] = [steady(a).split('\n'), steady(b).split('\n')];
      const at = x.findIndex((line, i) => line !== y[i]);
      return at < 0 && x.length === y.length ? 'same' : `line ${at}: ${x[at]} | ${y[at]}`;
    };
    assert.equal(diff(pieces.join(''), whole), 'same');
    assert.equal(diff(await metrics.render(), whole), 'same');
    assert.ok(whole.includes('picluster_process_cpu_seconds_total'));
  });

  it(`keeps nothing per node between scrapes of ${NODES} nodes; reports the render time`, async (t) => {
    const primary = idlePrimary(tempDir(t));
    const now = Date.now();
    for (let i = 0; i < NODES; i++) primary.registry.set(fakeNodeRecord(i, now));
    let metrics: Metrics | undefined = createMetrics(primary);
    const gc = exposeGc();
    // Data on the heap after a full GC: compiled code (the JIT still optimising) is not retention.
    const heapAfterGc = () => {
      gc();
      gc();
      return getHeapSpaceStatistics()
        .filter((space) => !space.space_name.startsWith('code'))
        .reduce((sum, space) => sum + space.space_used_size, 0);
    };

    // Renders run in their own functions: a string kept in this one's async frame would count.
    const { lines, upSeries } = await firstRender(metrics);
    assert.equal(upSeries, NODES);
    // More warm-up: the first scrapes grow two tables to their size for this many nodes and values,
    // V8's number-to-string cache and prom-client's WeakMap of escaped shared labels (its entries
    // die with each scrape's label objects; its capacity stays). Neither holds node data.
    await timeRenders(metrics, 2);
    const before = heapAfterGc();
    const timesMs = await timeRenders(metrics, 3);
    const afterRenders = heapAfterGc();
    // 1. Scrapes do not accumulate anything.
    const grownBytes = afterRenders - before;

    // 2. Nothing reachable from the registry's metric objects names a node (own properties only:
    // closures are what check 3 is for).
    const reach = walk(metrics.registry.getMetricsAsArray(), primary);
    const reachableObjects = reach.objects;
    const nodeIds = new Set([...primary.registry.all()].map((n) => n.id));
    const reachableNodeIds = reach.strings.filter((x) => nodeIds.has(x)).length;
    nodeIds.clear();
    reach.strings.length = 0;

    // 3. What only the metrics object keeps alive (closures included) is freed when it goes.
    metrics = undefined;
    const heldBytes = afterRenders - heapAfterGc();

    // The same measurement sees one small label object per node, kept in a Map.
    let control: Map<string, Record<string, string>> | undefined = new Map(
      [...primary.registry.all()].map((n) => [n.id, { node_id: n.id, node_name: n.name }]),
    );
    const withControl = heapAfterGc();
    assert.equal(control.size, NODES);
    control = undefined;
    const controlBytes = withControl - heapAfterGc();

    const sorted = [...timesMs].sort((x, y) => x - y);
    const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
    t.diagnostic(
      `${NODES} nodes, ${lines} lines: render ${sorted.map((ms) => ms.toFixed(0)).join(' / ')} ms ` +
        `(median ${sorted[1]?.toFixed(0)} ms); heap grown over 3 renders ${kib(grownBytes)}, ` +
        `freed with the metrics object ${kib(heldBytes)} (control, one label object per node: ` +
        `${kib(controlBytes)}); ${reachableObjects} objects reachable from the registry's metrics`,
    );
    const limit = 512 * 1024;
    assert.ok(controlBytes > 2 * limit, `the heap check is too coarse: the control measured ${controlBytes} bytes`);
    assert.ok(grownBytes < limit, `the heap grew by ${grownBytes} bytes over 3 renders`);
    assert.ok(heldBytes < limit, `the metrics object held ${heldBytes} bytes`);
    assert.equal(reachableNodeIds, 0, 'a node id is reachable from the metric objects');
    assert.ok(reachableObjects < 2_000, `${reachableObjects} objects reachable from the registry's metrics`);
    assert.ok((sorted[1] as number) < 10_000, 'rendering 10,000 nodes took over 10 s');
  });
});

async function firstRender(metrics: Metrics): Promise<{ lines: number; upSeries: number }> {
  const text = await metrics.render(); // also warms up the JIT and prom-client's lazy state
  return { lines: text.split('\n').length, upSeries: text.match(/^picluster_node_up\{/gm)?.length ?? 0 };
}

async function timeRenders(metrics: Metrics, times: number): Promise<number[]> {
  const timesMs: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    const text = await metrics.render();
    timesMs.push(performance.now() - started);
    assert.ok(text.length > 0);
  }
  return timesMs;
}

/** The V8 gc() function, exposed at run time (the test runner's processes have no --expose-gc). */
function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  assert.equal(typeof gc, 'function', 'could not expose gc()');
  return gc as () => void;
}

/** Every object and string reachable through own properties from `root`, not entering `stop`. */
function walk(root: unknown, stop: object): { objects: number; strings: string[] } {
  const seen = new Set<object>();
  const strings: string[] = [];
  const queue: unknown[] = [root];
  while (queue.length > 0) {
    const value = queue.pop();
    if (typeof value === 'string') strings.push(value);
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) continue;
    if (value === stop || seen.has(value)) continue;
    seen.add(value);
    if (value instanceof Map) for (const [k, v] of value) queue.push(k, v);
    if (value instanceof Set) for (const v of value) queue.push(v);
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key === 'string') strings.push(key);
      const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      if (descriptor && 'value' in descriptor) queue.push(descriptor.value);
    }
  }
  return { objects: seen.size, strings };
}
