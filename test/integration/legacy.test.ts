// Nodes of the original Python cluster on a real primary (`picluster primary --legacy`), played by
// test/fixtures/legacy-node.ts in their own processes: the whole session with messages split across
// reads and batched into one, uuids kept across reconnects, secondary_details (legacy nodes only),
// bad_message, vitals in the API, /metrics and InfluxDB (the original layout), garbage
// and endless lines closed while the other nodes carry on, and the refusal when legacy support is
// off. Liveness and a primary restart: legacy-liveness.test.ts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import type { NodeView } from '../../src/primary/registry.js';
import { legacyMessage } from '../fixtures/legacy-node.js';
import { type Child, spawnChild } from '../helpers/child.js';
import { getNodes, nodeIdOf, startPrimary, startSecondary, tempDir, waitUntil } from '../helpers/cluster.js';
import { startInfluxd } from '../helpers/influxd.js';
import { RawLegacyClient, rawSession } from '../helpers/legacy-client.js';
import { requirePrograms } from '../helpers/require-tool.js';

const FIXTURE = new URL('../fixtures/legacy-node.ts', import.meta.url).pathname;
const UUID = /^[0-9a-f]{32}$/;
const LEGACY_KEYS = ['hostname', 'ram', 'swap', 'cpu', 'cpu_cores', 'cpu_frequency_max', 'cpu_frequency_min'];

/** A legacy node process: keepalive every 100 ms, vitals every 200 ms. */
function legacyNode(
  t: TestContext,
  port: number,
  options: { hostname: string; write?: 'split' | 'batch'; vitals?: Record<string, unknown> },
): Child {
  return spawnChild(t, FIXTURE, [String(port)], {
    LEGACY_HOSTNAME: options.hostname,
    LEGACY_WRITE: options.write ?? 'batch',
    LEGACY_TICK_MS: '100',
    LEGACY_VITALS_EVERY: '2',
    ...(options.vitals ? { LEGACY_VITALS: JSON.stringify(options.vitals) } : {}),
  });
}

/** The uuid of the node's latest session (after `since` events). */
async function uuidOf(node: Child, since = 0): Promise<string> {
  const event = await node.waitFor((e) => e.event === 'uuid' && node.events.indexOf(e) >= since, 15_000, 'uuid');
  return event.uuid as string;
}

async function nodeWhere(api: string, what: string, match: (n: NodeView) => boolean): Promise<NodeView> {
  return (await waitUntil(async () => (await getNodes(api)).find(match), 15_000, what)) as NodeView;
}

async function metricsOf(api: string): Promise<string> {
  return (await fetch(`${api}/metrics`)).text();
}

/** The value of an unlabelled series in a Prometheus text, or undefined. */
function seriesTotal(text: string, metric: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric} `));
  return line === undefined ? undefined : Number(line.slice(metric.length + 1));
}

/** The value of one per-node series in a Prometheus text, or undefined. */
function seriesValue(text: string, metric: string, nodeId: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(`node_id="${nodeId}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('legacy nodes on a real primary', () => {
  it('serves the whole session, split across reads or several in one, into the API and /metrics', async (t) => {
    const primary = await startPrimary(t, { dataDir: tempDir(t), args: ['--legacy'] });
    const split = legacyNode(t, primary.port, { hostname: 'pi-split', write: 'split' });
    const batch = legacyNode(t, primary.port, {
      hostname: 'box-batch',
      vitals: { cpu_percentage: 87.5, cpu_frequency: 2400.5, ram_free: 5_000, swap_free: 0 },
    });
    const [splitId, batchId] = await Promise.all([uuidOf(split), uuidOf(batch)]);
    assert.match(splitId, UUID);
    assert.match(batchId, UUID);
    assert.notEqual(splitId, batchId);

    const info = await split.waitFor((e) => e.event === 'primary_info', 10_000, 'primary_info');
    assert.equal(info.type, 'primary_info');
    const primaryInfo = info.payload as Record<string, unknown>;
    assert.deepEqual(
      Object.keys(primaryInfo).filter((k) => !LEGACY_KEYS.includes(k)),
      [],
    );
    assert.equal(typeof primaryInfo.hostname, 'string');
    assert.ok(Number.isInteger(primaryInfo.ram) && (primaryInfo.ram as number) > 0);
    assert.ok(Number.isInteger(primaryInfo.cpu_cores));

    const sampled = (id: string) => (n: NodeView) => n.id === id && (n.vitals?.seq ?? 0) >= 3;
    const splitNode = await nodeWhere(primary.api, 'three samples of pi-split', sampled(splitId));
    const batchNode = await nodeWhere(primary.api, 'three samples of box-batch', sampled(batchId));
    assert.equal(splitNode.name, 'pi-split');
    assert.equal(splitNode.legacy, true);
    assert.equal(splitNode.state, 'online');
    assert.match(splitNode.address ?? '', /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(splitNode.info, {
      hostname: 'pi-split',
      ramTotalBytes: 4_044_734_464,
      swapTotalBytes: 104_853_504,
      cpuModel: 'ARMv7 Processor rev 3 (v7l)',
      cpuCores: 4,
      cpuMaxMhz: 1500.5,
      cpuMinMhz: 600.5,
    });
    const { seq, ts, receivedAt, ...reading } = splitNode.vitals as NonNullable<NodeView['vitals']>;
    assert.ok(seq >= 3 && ts > 0 && receivedAt > 0);
    // Only what the node sent: no load, uptime, disks or nets are invented.
    assert.deepEqual(reading, {
      cpuPercent: 12.5,
      cpuMhz: 1500.5,
      ramAvailableBytes: 123_456_789,
      swapFreeBytes: 1_048_576,
      tempC: 47.25,
    });
    assert.equal(batchNode.vitals?.cpuPercent, 87.5);
    assert.equal('tempC' in (batchNode.vitals ?? {}), false, 'no temperature sent, none shown');

    const metrics = await metricsOf(primary.api);
    assert.equal(seriesValue(metrics, 'picluster_node_cpu_usage_percent', splitId), 12.5);
    assert.equal(seriesValue(metrics, 'picluster_node_cpu_usage_percent', batchId), 87.5);
    assert.equal(seriesValue(metrics, 'picluster_node_up', splitId), 1);
    assert.equal(seriesValue(metrics, 'picluster_node_temperature_celsius', splitId), 47.25);
    assert.equal(seriesValue(metrics, 'picluster_node_temperature_celsius', batchId), undefined);
    assert.equal(seriesValue(metrics, 'picluster_node_load1', splitId), undefined);
    assert.equal(seriesValue(metrics, 'picluster_node_memory_total_bytes', splitId), 4_044_734_464);
    assert.match(metrics, new RegExp(`node_id="${splitId}",node_name="pi-split"`));

    // Keepalives went out between the vitals, and the primary never spoke unasked.
    assert.ok(split.events.some((e) => e.event === 'sent' && (e.types as string[]).join() === 'message'));
    for (const node of [split, batch])
      assert.deepEqual(
        node.events.filter((e) => e.event === 'unexpected'),
        [],
      );
  });

  it('gives a reconnecting node its uuid again, never one uuid to two connections at once', async (t) => {
    const primary = await startPrimary(t, { dataDir: tempDir(t), args: ['--legacy'] });
    const a = legacyNode(t, primary.port, { hostname: 'pi-a' });
    const b = legacyNode(t, primary.port, { hostname: 'pi-b', write: 'split' });
    const [aId, bId] = await Promise.all([uuidOf(a), uuidOf(b)]);
    assert.notEqual(aId, bId, 'two nodes on one IP at once get distinct uuids');
    await nodeWhere(primary.api, 'pi-a online', (n) => n.id === aId && n.state === 'online');
    await nodeWhere(primary.api, 'pi-b online', (n) => n.id === bId && n.state === 'online');

    // A disconnects (EOF) and comes back from the same IP: same uuid, same node, history kept.
    a.send({ cmd: 'close' });
    await nodeWhere(primary.api, 'pi-a lost', (n) => n.id === aId && n.state === 'lost');
    const before = a.events.length;
    a.send({ cmd: 'connect' });
    assert.equal(await uuidOf(a, before), aId);
    const back = await nodeWhere(primary.api, 'pi-a back', (n) => n.id === aId && n.state === 'online');
    assert.equal(back.name, 'pi-a');

    // Another machine behind the same IP is offered B's uuid, but its hostname does not confirm
    // it: it becomes a node of its own and B's record stays B's.
    b.send({ cmd: 'close' });
    await nodeWhere(primary.api, 'pi-b lost', (n) => n.id === bId && n.state === 'lost');
    const c = legacyNode(t, primary.port, { hostname: 'pi-c' });
    const cNode = await nodeWhere(primary.api, 'pi-c online', (n) => n.name === 'pi-c' && n.state === 'online');
    assert.notEqual(cNode.id, bId);
    assert.notEqual(cNode.id, aId);
    const bRecord = (await getNodes(primary.api)).find((n) => n.id === bId);
    assert.equal(bRecord?.name, 'pi-b');
    assert.equal(bRecord?.state, 'lost');

    // B comes back while C still holds the uuid it was offered: B is told another uuid, but its
    // hostname files it under its own node again.
    const bBefore = b.events.length;
    b.send({ cmd: 'connect' });
    const bTold = await uuidOf(b, bBefore);
    assert.notEqual(bTold, await uuidOf(c), 'concurrent connections never share a uuid');
    await nodeWhere(primary.api, 'pi-b back', (n) => n.id === bId && n.state === 'online');
    const nodes = await getNodes(primary.api);
    assert.deepEqual(nodes.map((n) => `${n.name}:${n.state}`).sort(), ['pi-a:online', 'pi-b:online', 'pi-c:online']);
  });

  it('lists legacy nodes (never native ones) in secondary_details, answers bad_message, both kinds at once', async (t) => {
    const primary = await startPrimary(t, { dataDir: tempDir(t), args: ['--legacy'] });
    const nativeDir = tempDir(t);
    startSecondary(t, primary, { dataDir: nativeDir, name: 'native-1' });
    const legacyA = legacyNode(t, primary.port, { hostname: 'pi-a' });
    const legacyB = legacyNode(t, primary.port, { hostname: 'pi-b', write: 'split' });
    const [aId, bId] = await Promise.all([uuidOf(legacyA), uuidOf(legacyB)]);
    await waitUntil(
      async () => (await getNodes(primary.api)).filter((n) => n.state === 'online' && n.vitals).length === 3,
      15_000,
      'three nodes online with vitals',
    );
    const nativeId = nodeIdOf(nativeDir);
    const nodes = await getNodes(primary.api);
    const native = nodes.find((n) => n.id === nativeId);
    assert.equal(native?.legacy, false);
    assert.equal(typeof native?.vitals?.load1, 'number', 'the native node reports as before');

    const details = await legacyA.ask({ cmd: 'ask', what: 'secondary_details' }, 'reply');
    assert.equal(details.type, 'secondary_details');
    const listed = details.payload as Record<string, { uuid: string; address: string }>;
    // Native nodes are not listed: an unauthenticated peer learns nothing of the authenticated fleet.
    assert.deepEqual(Object.keys(listed).sort(), [aId, bId].sort());
    for (const [id, entry] of Object.entries(listed)) {
      assert.equal(entry.uuid, id);
      assert.equal(entry.address, nodes.find((n) => n.id === id)?.address);
      assert.match(entry.address, /^127\.0\.0\.1:\d+$/);
    }

    for (const what of ['nonsense', 42, null, { what: 'uuid' }]) {
      const reply = await legacyB.ask({ cmd: 'ask', what }, 'reply');
      assert.deepEqual([reply.type, reply.payload], ['bad_message', 'unknown'], `info ${JSON.stringify(what)}`);
    }
    // A monitoring page asking only secondary_details is listed by no one and is no node.
    const monitor = new RawLegacyClient(primary.port);
    t.after(() => monitor.socket.destroy());
    const seen = await monitor.ask('secondary_details');
    assert.deepEqual(Object.keys(seen.payload as object).sort(), [aId, bId].sort());
    assert.equal((await getNodes(primary.api)).length, 3);
  });

  it('closes garbage, oversized and silent connections while the other nodes carry on', async (t) => {
    const primary = await startPrimary(t, {
      dataDir: tempDir(t),
      args: ['--legacy', '--handshake-timeout-ms', '1000'],
    });
    const nativeDir = tempDir(t);
    startSecondary(t, primary, { dataDir: nativeDir, name: 'native-1' });
    const legacy = legacyNode(t, primary.port, { hostname: 'pi-steady', write: 'split' });
    const legacyId = await uuidOf(legacy);
    const nativeId = await waitUntil(
      async () => {
        const id = nodeIdOf(nativeDir);
        return (await getNodes(primary.api)).some((n) => n.id === id && n.state === 'online') ? id : undefined;
      },
      15_000,
      'native node online',
    );
    const seqs = async () => {
      const nodes = await getNodes(primary.api);
      return [legacyId, nativeId].map((id) => nodes.find((n) => n.id === id)?.vitals?.seq ?? 0);
    };
    const seqsBefore = await seqs();

    const garbage: Array<[string, Buffer | string]> = [
      ['invalid JSON', '{"type": "info", "payload": \r'],
      ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d, 0x0d])],
      ['JSON 40 deep', `{"type": "x", "payload": ${'['.repeat(40)}${']'.repeat(40)}}\r`],
      ['a __proto__ key', '{"type": "node_baseinfo", "payload": {"hostname": "x", "__proto__": {"admin": true}}}\r'],
      ['no type', '{"payload": "uuid"}\r'],
      ['vitals of the wrong shape', `${legacyMessage('info', 'uuid')}{"type": "vitals", "payload": [1]}\r`],
      ['an unfinished message, then silence', '{"type": "info", "payl'],
    ];
    for (const [what, bytes] of garbage) {
      const result = await rawSession(primary.port, bytes);
      const expected = what.startsWith('vitals') ? /^\{"type":"uuid","payload":"[0-9a-f]{32}"\}\r$/ : /^$/;
      assert.match(result.received, expected, `${what}: nothing but what was asked before it`);
      if (what.startsWith('an unfinished'))
        assert.ok(result.closedAfterMs >= 900, `${what}: held to the handshake timeout`);
    }

    // An endless line without "\r": closed once it passes maxFrameBytes (1 MiB), long before 100 MiB.
    const endless = await new Promise<{ writtenBytes: number; failed: boolean }>((resolve) => {
      const socket = net.connect(primary.port, '127.0.0.1');
      const opening = Buffer.from('{"type": "message", "payload": "');
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      let writtenBytes = 0;
      let done = false;
      const finish = (failed: boolean) => {
        if (done) return;
        done = true;
        socket.destroy();
        resolve({ writtenBytes, failed });
      };
      socket.on('error', () => finish(true));
      socket.on('close', () => finish(true));
      const pump = () => {
        while (writtenBytes < 100 * 1024 * 1024) {
          writtenBytes += chunk.length;
          if (!socket.write(writtenBytes === chunk.length ? Buffer.concat([opening, chunk]) : chunk)) {
            return void socket.once('drain', pump);
          }
        }
        finish(false);
      };
      socket.on('connect', pump);
    });
    assert.equal(endless.failed, true, 'the primary closed the endless line');
    assert.ok(endless.writtenBytes < 100 * 1024 * 1024);
    // Every one of those connections was taken as legacy (none refused at its opening).
    assert.equal(seriesTotal(await metricsOf(primary.api), 'picluster_rejected_openings_total'), 0);

    // The nodes that behaved kept reporting throughout.
    await waitUntil(
      async () => (await seqs()).every((seq, i) => seq > (seqsBefore[i] as number) + 2),
      15_000,
      'both nodes still reporting',
    );
    const nodes = await getNodes(primary.api);
    assert.deepEqual(nodes.map((n) => `${n.name}:${n.state}`).sort(), ['native-1:online', 'pi-steady:online']);
    assert.deepEqual(
      legacy.events.filter((e) => e.event === 'disconnected'),
      [],
    );
  });

  it("writes a legacy node's vitals to InfluxDB in the original layout, as the original primary did", async (t) => {
    const programs = requirePrograms(t, ['influxd'], 'apt-get install influxdb');
    if (!programs?.influxd) return;
    const influxd = await startInfluxd(t, programs.influxd);
    const primary = await startPrimary(t, {
      dataDir: tempDir(t),
      args: ['--legacy', '--influx-url', influxd.url, '--influx-layout', 'legacy'],
    });
    legacyNode(t, primary.port, { hostname: 'pi-grafana' });
    await nodeWhere(
      primary.api,
      'two samples of pi-grafana',
      (n) => n.name === 'pi-grafana' && (n.vitals?.seq ?? 0) >= 2,
    );
    // A clean stop flushes the sink and waits for InfluxDB's answer. Read before that, a batch can
    // be half visible: InfluxDB 1.x files each field apart, so a row may show percentage but not
    // (yet) frequency.
    primary.child.kill('SIGTERM');
    await once(primary.child.process, 'exit');
    assert.equal(primary.child.process.exitCode, 0, primary.child.stderr.join(''));
    const db = 'rpi_cluster_node_vitals';
    const { rows: cpu } = await influxd.query(db, `SELECT * FROM cpu WHERE node = 'pi-grafana'`);
    assert.ok(cpu.length >= 2, `pi-grafana's samples in the cpu measurement: ${JSON.stringify(cpu)}`);
    for (const { time, ...row } of cpu) {
      assert.deepEqual(row, { node: 'pi-grafana', percentage: 12.5, frequency: 1500.5, temperature: 47.25 });
    }
    const ram = await influxd.query(db, `SELECT free FROM ram WHERE node = 'pi-grafana'`);
    assert.equal(ram.rows.length, cpu.length);
    assert.ok(ram.rows.every((r) => r.free === 123_456_789));
  });

  it('refuses legacy nodes with one clear log line when legacy support is off', async (t) => {
    const primary = await startPrimary(t, { dataDir: tempDir(t) });
    const result = await rawSession(primary.port, legacyMessage('info', 'uuid'));
    assert.equal(result.received, '');
    const logged = await waitUntil(
      () =>
        primary.child.stderr
          .join('')
          .split('\n')
          .filter((l) => l.includes('legacy support is off')),
      5_000,
      'the refusal in the log',
    );
    assert.equal(logged.length, 1);
    assert.match(logged[0] as string, /start with --legacy/);
    assert.deepEqual(await getNodes(primary.api), []);
  });
});
