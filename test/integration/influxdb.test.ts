// InfluxSink against a real influxd (InfluxDB 1.x): what it writes in both layouts reads back with
// the right values, tags and field types, and an influxd that hangs or dies (and comes back on
// the same dirs and ports) costs no vitals up to maxBufferedLines and never blocks the writer.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Logger } from '../../src/common/logger.js';
import { InfluxSink } from '../../src/primary/influx-sink.js';
import type { VitalsPayload } from '../../src/protocol/messages.js';
import { startPrimary, startSecondary, tempDir, waitUntil } from '../helpers/cluster.js';
import { type Influxd, startInfluxd } from '../helpers/influxd.js';
import { requirePrograms } from '../helpers/require-tool.js';

type Sample = VitalsPayload & { receivedAt: number };

const BASE_MS = Date.now() - 60_000;

function sample(seq: number, over: Partial<Sample> = {}): Sample {
  return {
    seq,
    ts: BASE_MS + seq,
    receivedAt: BASE_MS + seq + 30,
    cpuPercent: seq % 100,
    cpuMhz: 600 + seq,
    ramAvailableBytes: 1_000_000 + seq,
    swapFreeBytes: 5000,
    load1: 0.5,
    load5: 0.25,
    load15: 0.125,
    uptimeS: 1000 + seq,
    disks: [],
    nets: [],
    ...over,
  };
}

interface LogEntry {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger(entries: LogEntry[]): Logger {
  const log = (level: string) => (fields: object, message: string) =>
    void entries.push({ level, fields: fields as Record<string, unknown>, message });
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The seqs stored in picluster_vitals, ascending. */
async function storedSeqs(influxd: Influxd, db: string): Promise<number[]> {
  const { databases } = await influxd.query('', 'SHOW DATABASES').then(({ rows }) => ({
    databases: rows.map((r) => r.name),
  }));
  if (!databases.includes(db)) return []; // the sink has not created it yet
  const { rows } = await influxd.query(db, 'SELECT seq FROM picluster_vitals');
  return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function fieldTypes(influxd: Influxd, db: string, measurement: string): Promise<Record<string, unknown>> {
  const { rows } = await influxd.query(db, `SHOW FIELD KEYS FROM "${measurement}"`);
  return Object.fromEntries(rows.map((r) => [r.fieldKey, r.fieldType]));
}

test('InfluxSink writes to a real influxd', { timeout: 60_000 }, async (t) => {
  const programs = requirePrograms(t, ['influxd'], 'apt-get install influxdb');
  if (!programs?.influxd) return;
  const influxd = await startInfluxd(t, programs.influxd);

  await t.test('native layout: values, escaped tags, field types and the 1970-clock rule read back', async () => {
    const sink = new InfluxSink({ url: influxd.url, database: 'native_it', flushIntervalMs: 50 });
    sink.start();
    const nodes = [
      { id: 'n1', name: 'pi one' },
      { id: 'n,2', name: 'rack=2,pi 2' },
    ];
    for (let seq = 1; seq <= 10; seq++) {
      for (const node of nodes) sink.write(node, sample(seq, seq === 3 ? { tempC: 47.5, dropped: 4 } : {}));
    }
    // A Pi without RTC: its ts is from 1970, so the primary's receivedAt stands in.
    sink.write(nodes[0]!, sample(11, { ts: 4_000, receivedAt: BASE_MS + 5_000 }));
    // A backlog resent after a day-long outage, the node's clock right (the link's offset says so):
    // at its own time, as the stores file it.
    sink.write(nodes[0]!, sample(12, { ts: BASE_MS - 26 * 3_600_000, receivedAt: BASE_MS + 6_000 }), -40);
    await sink.stop();
    assert.deepEqual(sink.stats, { written: 22, dropped: 0, failures: 0, buffered: 0 });

    const { rows } = await influxd.query('native_it', 'SELECT * FROM picluster_vitals');
    assert.equal(rows.length, 22);
    const row = rows.find((r) => r.node_id === 'n,2' && r.seq === 3);
    assert.deepEqual(row, {
      time: BASE_MS + 3,
      node_id: 'n,2',
      node_name: 'rack=2,pi 2',
      cpu_percent: 3,
      cpu_mhz: 603,
      ram_available_bytes: 1_000_003,
      swap_free_bytes: 5000,
      load1: 0.5,
      load5: 0.25,
      load15: 0.125,
      uptime_s: 1003,
      temp_c: 47.5,
      seq: 3,
      dropped: 4,
    });
    assert.equal(rows.find((r) => r.seq === 11)?.time, BASE_MS + 5_000);
    assert.equal(rows.find((r) => r.seq === 12)?.time, BASE_MS - 26 * 3_600_000);
    const names = await influxd.query('native_it', 'SHOW TAG VALUES FROM picluster_vitals WITH KEY = "node_name"');
    assert.deepEqual(names.rows.map((r) => r.value).sort(), ['pi one', 'rack=2,pi 2']);
    assert.deepEqual(await fieldTypes(influxd, 'native_it', 'picluster_vitals'), {
      cpu_mhz: 'float',
      cpu_percent: 'float',
      dropped: 'integer',
      load1: 'float',
      load15: 'float',
      load5: 'float',
      ram_available_bytes: 'integer',
      seq: 'integer',
      swap_free_bytes: 'integer',
      temp_c: 'float',
      uptime_s: 'float',
    });
  });

  await t.test('legacy layout: the original database, retention policy, measurements, tags and types', async () => {
    const sink = new InfluxSink({ url: influxd.url, layout: 'legacy', flushIntervalMs: 50 });
    sink.start();
    sink.write({ id: 'a', name: 'pi-a' }, sample(1, { cpuPercent: 12.5, cpuMhz: 1500, tempC: 51.2 }));
    sink.write({ id: 'b', name: 'pc b' }, sample(2, { cpuPercent: 3, cpuMhz: undefined }));
    await sink.stop();
    assert.deepEqual(sink.stats, { written: 6, dropped: 0, failures: 0, buffered: 0 });

    const db = 'rpi_cluster_node_vitals';
    const policies = await influxd.query(db, `SHOW RETENTION POLICIES ON ${db}`);
    assert.deepEqual(
      policies.rows.find((r) => r.name === 'node_vitals_year_rp'),
      {
        name: 'node_vitals_year_rp',
        duration: '8760h0m0s',
        shardGroupDuration: '168h0m0s',
        replicaN: 1,
        default: true,
      },
    );
    const cpu = await influxd.query(db, 'SELECT * FROM cpu');
    assert.deepEqual(cpu.rows, [
      { time: BASE_MS + 1, frequency: 1500, node: 'pi-a', percentage: 12.5, temperature: 51.2 },
      { time: BASE_MS + 2, frequency: null, node: 'pc b', percentage: 3, temperature: null },
    ]);
    // What an existing Grafana board asks: one node's free RAM over time.
    const ram = await influxd.query(db, `SELECT "free" FROM "ram" WHERE "node" = 'pc b'`);
    assert.deepEqual(ram.rows, [{ time: BASE_MS + 2, free: 1_000_002 }]);
    const swap = await influxd.query(db, 'SELECT count("free") FROM "swap"');
    assert.equal(swap.rows[0]?.count, 2);
    assert.deepEqual(await fieldTypes(influxd, db, 'cpu'), {
      frequency: 'float',
      percentage: 'float',
      temperature: 'float',
    });
    assert.deepEqual(await fieldTypes(influxd, db, 'ram'), { free: 'integer' });
    assert.deepEqual(await fieldTypes(influxd, db, 'swap'), { free: 'integer' });
  });

  await t.test(
    'legacy layout: a database the original made (its policy with REPLICATION 3) is used as it is',
    async () => {
      await influxd.query('', 'CREATE DATABASE old_node_vitals');
      await influxd.query(
        '',
        'CREATE RETENTION POLICY node_vitals_year_rp ON old_node_vitals DURATION 365d REPLICATION 3 DEFAULT',
      );
      const sink = new InfluxSink({ url: influxd.url, layout: 'legacy', legacyPrefix: 'old_', flushIntervalMs: 50 });
      sink.start();
      sink.write({ id: 'a', name: 'pi-a' }, sample(1));
      await sink.stop();
      assert.deepEqual(sink.stats, { written: 3, dropped: 0, failures: 0, buffered: 0 });
      const policies = await influxd.query('old_node_vitals', 'SHOW RETENTION POLICIES ON old_node_vitals');
      assert.equal(policies.rows.find((r) => r.name === 'node_vitals_year_rp')?.replicaN, 3);
    },
  );

  await t.test(
    'a paused, then killed and restarted influxd: the writer never blocks, the buffer stays bounded, vitals arrive',
    async () => {
      const db = 'outage_it';
      const maxBufferedLines = 300;
      const logs: LogEntry[] = [];
      const sink = new InfluxSink({
        url: influxd.url,
        database: db,
        flushIntervalMs: 50,
        batchLines: 100,
        maxBufferedLines,
        requestTimeoutMs: 400,
        retry: { initialDelayMs: 50, maxDelayMs: 400 },
        logger: recordingLogger(logs),
      });
      sink.start();
      let seq = 0;
      const writeMs: number[] = [];
      let mostBuffered = 0;
      /** Writes `count` samples, `gapMs` apart, timing each write() call. */
      const writeSamples = async (count: number, gapMs: number) => {
        for (let i = 0; i < count; i++) {
          const started = performance.now();
          sink.write({ id: 'n1', name: 'pi' }, sample(++seq));
          writeMs.push(performance.now() - started);
          mostBuffered = Math.max(mostBuffered, sink.stats.buffered);
          if (gapMs > 0) await sleep(gapMs);
        }
      };
      const arrived = async (expected: number[]) => {
        await waitFor(
          `${expected.length} samples in ${db}`,
          async () => (await storedSeqs(influxd, db)).length >= expected.length,
        );
        assert.deepEqual(await storedSeqs(influxd, db), expected);
      };

      await writeSamples(20, 0);
      await arrived(range(1, 20));

      // Paused: connections are accepted and never answered, so requests time out.
      influxd.pause();
      await writeSamples(40, 30);
      assert.ok(sink.stats.failures >= 1, 'requests to the paused influxd timed out');
      assert.ok(sink.stats.buffered > 0);
      influxd.resume();
      await arrived(range(1, 60));

      // Killed: connections are refused. Then started again on the same dirs and ports.
      await influxd.kill();
      await writeSamples(100, 10);
      assert.ok(sink.stats.buffered > 0, 'lines wait while influxd is down');
      await influxd.start();
      await arrived(range(1, 160));

      // Killed again, and more samples than the buffer holds: the oldest go, counted.
      await influxd.kill();
      await sleep(100);
      await writeSamples(500, 0);
      assert.equal(sink.stats.buffered, maxBufferedLines);
      await influxd.start();
      await arrived([...range(1, 160), ...range(661 - maxBufferedLines, 660)]);
      // The last answer may still be on its way (stop() would give it only requestTimeoutMs).
      await waitFor('the sink to see its last write answered', async () => sink.stats.buffered === 0);
      await sink.stop();

      assert.ok(mostBuffered <= maxBufferedLines, `buffered ${mostBuffered} lines at most`);
      // A write() that waited for InfluxDB would take requestTimeoutMs while it hangs, and every
      // one of them would; a busy machine may preempt a few calls, so the 99th percentile counts.
      writeMs.sort((a, b) => a - b);
      const p99Ms = writeMs[Math.floor(writeMs.length * 0.99)] ?? 0;
      assert.ok(p99Ms < 20, `99% of write() calls took up to ${p99Ms} ms`);
      const { written, dropped, buffered } = sink.stats;
      assert.deepEqual({ written, dropped, buffered }, { written: 460, dropped: 200, buffered: 0 });

      // Each kind of failure is logged once per outage; each outage ends with one recovery line.
      // Three outages were made; a slow answer on this shared machine may make one more (a
      // timeout while influxd was up), so at least three, and never a recovery without an outage.
      const said = JSON.stringify(logs.filter((e) => e.level !== 'debug'));
      if (process.env.INFLUX_TEST_LOGS) console.log(said);
      const recoveries = logs.filter((e) => e.message === 'InfluxDB reachable again');
      assert.ok(recoveries.length >= 3, said);
      let kinds = new Set<unknown>();
      for (const entry of logs) {
        if (entry.message === 'InfluxDB reachable again') {
          assert.ok(kinds.size > 0, `a recovery line without a failure before it: ${said}`);
          kinds = new Set();
        } else if (entry.level === 'warn' && entry.fields.kind !== undefined) {
          assert.ok(!kinds.has(entry.fields.kind), `"${String(entry.fields.kind)}" logged twice in one outage`);
          kinds.add(entry.fields.kind);
        }
      }
      const warnedKinds = logs.filter((e) => e.level === 'warn').map((e) => String(e.fields.kind));
      assert.ok(warnedKinds.includes('write: timeout'), warnedKinds.join(', '));
      assert.ok(warnedKinds.includes('write: unreachable (ECONNREFUSED)'), warnedKinds.join(', '));
    },
  );
});

test('the primary writes stored vitals to InfluxDB when influx.url is set (CLI, legacy layout)', {
  timeout: 90_000,
}, async (t) => {
  const programs = requirePrograms(t, ['influxd'], 'apt-get install influxdb');
  if (!programs?.influxd) return;
  const influxd = await startInfluxd(t, programs.influxd);
  const dir = tempDir(t);
  const primary = await startPrimary(t, {
    dataDir: join(dir, 'primary'),
    args: ['--influx-url', influxd.url, '--influx-layout', 'legacy'],
  });
  startSecondary(t, primary, { dataDir: join(dir, 'pi'), name: 'pi-legacy' });
  await waitUntil(
    async () => {
      const { rows } = await influxd.query(
        'rpi_cluster_node_vitals',
        `SELECT percentage FROM cpu WHERE node = 'pi-legacy'`,
      );
      return rows.length >= 3;
    },
    30_000,
    '3 samples of pi-legacy in the legacy cpu measurement',
  );
  // InfluxDB 1.x makes a batch visible one field (one measurement) at a time: wait for ram too.
  const ram = await waitUntil(
    async () => {
      const { rows } = await influxd.query('rpi_cluster_node_vitals', `SELECT free FROM ram WHERE node = 'pi-legacy'`);
      return rows.length >= 1 ? rows : undefined;
    },
    10_000,
    "pi-legacy's samples in the legacy ram measurement",
  );
  assert.ok(Number(ram[0]?.free) > 0);
});
