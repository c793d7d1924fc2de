// Unit tests of the InfluxDB sink: the exact line protocol of both layouts, and the write loop
// (batching, backoff, bounded buffer, logging, stop) against an injected fetch on a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '../../../src/common/logger.js';
import { formatLine, formatVitalsLines, sampleTimeMs } from '../../../src/primary/influx-lines.js';
import { InfluxSink, type InfluxSinkOptions } from '../../../src/primary/influx-sink.js';
import { ConfigError } from '../../../src/protocol/errors.js';
import type { VitalsPayload } from '../../../src/protocol/messages.js';
import { FakeClock } from '../../helpers/fake-clock.js';

const NOW = 1_700_000_000_000;
const DAY_MS = 24 * 60 * 60 * 1000;

type Sample = VitalsPayload & { receivedAt: number };

function sample(over: Partial<Sample> = {}): Sample {
  return {
    seq: 1,
    ts: NOW,
    receivedAt: NOW + 40,
    cpuPercent: 12.5,
    ramAvailableBytes: 1000,
    swapFreeBytes: 0,
    load1: 0.5,
    load5: 0.25,
    load15: 0.125,
    uptimeS: 3600,
    disks: [],
    nets: [],
    ...over,
  };
}

const NODE = { id: 'n1', name: 'pi1' };

describe('formatVitalsLines', () => {
  it('native: one picluster_vitals line with escaped tags, every vital and the sample ts', () => {
    const lines = formatVitalsLines(
      'native',
      { id: 'n 1', name: 'rack 1,pi=3' },
      sample({ seq: 42, cpuMhz: 1500, tempC: 48.3, dropped: 2 }),
    );
    assert.deepEqual(lines, [
      'picluster_vitals,node_id=n\\ 1,node_name=rack\\ 1\\,pi\\=3 cpu_percent=12.5,cpu_mhz=1500,' +
        'ram_available_bytes=1000i,swap_free_bytes=0i,load1=0.5,load5=0.25,load15=0.125,uptime_s=3600,' +
        'temp_c=48.3,seq=42i,dropped=2i 1700000000000',
    ]);
  });

  it('native: leaves out the vitals a node did not send', () => {
    assert.deepEqual(formatVitalsLines('native', NODE, sample()), [
      'picluster_vitals,node_id=n1,node_name=pi1 cpu_percent=12.5,ram_available_bytes=1000i,swap_free_bytes=0i,' +
        'load1=0.5,load5=0.25,load15=0.125,uptime_s=3600,seq=1i 1700000000000',
    ]);
  });

  it('legacy: the original cpu/ram/swap measurements tagged node=<name>, floats and integers as it wrote them', () => {
    assert.deepEqual(formatVitalsLines('legacy', { id: 'x', name: 'my pi' }, sample({ cpuMhz: 600, tempC: 51.5 })), [
      'cpu,node=my\\ pi frequency=600,percentage=12.5,temperature=51.5 1700000000000',
      'ram,node=my\\ pi free=1000i 1700000000000',
      'swap,node=my\\ pi free=0i 1700000000000',
    ]);
  });

  it('legacy: temperature and frequency only when known; the node id stands in for an empty name', () => {
    assert.deepEqual(formatVitalsLines('legacy', { id: 'abc', name: '' }, sample({ cpuPercent: 3 })), [
      'cpu,node=abc percentage=3 1700000000000',
      'ram,node=abc free=1000i 1700000000000',
      'swap,node=abc free=0i 1700000000000',
    ]);
  });

  it('uses the sample ts when within 24 h of receivedAt, else receivedAt (a Pi without RTC says 1970)', () => {
    const receivedAt = NOW;
    assert.equal(sampleTimeMs({ ts: 5_000, receivedAt }), receivedAt);
    assert.equal(sampleTimeMs({ ts: receivedAt - DAY_MS, receivedAt }), receivedAt - DAY_MS);
    assert.equal(sampleTimeMs({ ts: receivedAt + DAY_MS, receivedAt }), receivedAt + DAY_MS);
    assert.equal(sampleTimeMs({ ts: receivedAt - DAY_MS - 1, receivedAt }), receivedAt);
    assert.equal(sampleTimeMs({ ts: receivedAt + DAY_MS + 1, receivedAt }), receivedAt);
    const [line] = formatVitalsLines('native', NODE, sample({ ts: 12_000, receivedAt: NOW + 7 }));
    assert.match(line ?? '', / 1700000000007$/);
  });

  it("with the link's clock offset: a backlog days old at its ts, a clock days off translated (the stores' rule)", () => {
    const receivedAt = NOW;
    assert.equal(sampleTimeMs({ ts: receivedAt - 26 * 3_600_000, receivedAt }, -40), receivedAt - 26 * 3_600_000);
    assert.equal(sampleTimeMs({ ts: receivedAt - 3 * DAY_MS - 5_000, receivedAt }, -3 * DAY_MS), receivedAt - 5_000);
    assert.equal(sampleTimeMs({ ts: 5_000, receivedAt }, 12), receivedAt, 'sampled before NTP set the clock');
    const old = sample({ ts: NOW - 26 * 3_600_000, receivedAt: NOW + 7 });
    for (const layout of ['native', 'legacy'] as const) {
      for (const line of formatVitalsLines(layout, NODE, old, 0)) assert.match(line, / 1699906400000$/, layout);
    }
  });
});

describe('formatLine', () => {
  it('escapes quotes and backslashes in string fields and writes booleans', () => {
    assert.equal(
      formatLine('m', {}, { s: 'say "hi" \\o/', ok: true, no: false }, 1),
      'm s="say \\"hi\\" \\\\o/",ok=true,no=false 1',
    );
  });

  it('escapes commas, spaces and equals signs in keys, commas and spaces in the measurement', () => {
    assert.equal(formatLine('my m,x', { 'a b': 'c=d,e' }, { 'f g': 1 }, 2), 'my\\ m\\,x,a\\ b=c\\=d\\,e f\\ g=1 2');
  });

  it('leaves out empty tags and fields that are absent or not finite; no field, no line', () => {
    assert.equal(
      formatLine('m', { a: '', b: 'x' }, { f: Number.NaN, g: undefined, h: 2, i: { int: 1.5 } }, 3),
      'm,b=x h=2 3',
    );
    assert.equal(formatLine('m', { a: 'x' }, { f: Number.POSITIVE_INFINITY }, 3), undefined);
  });

  it('drops what InfluxDB 1.x cannot take in a tag: line breaks and a trailing backslash', () => {
    assert.equal(formatLine('m', { t: 'a\nb\\', u: 'c\\d' }, { f: 1 }, 4), 'm,t=a\\ b,u=c\\d f=1 4');
  });
});

// ---- the sink against a fake InfluxDB

interface Call {
  path: string;
  url: URL;
  /** The write body, or the query's `q`. */
  body: string;
  atMs: number;
  signal: AbortSignal | undefined;
}

type Answer = (call: Call) => Response | Error | Promise<Response | Error>;

const noContent = () => new Response(null, { status: 204 });
const queryOk = () => Response.json({ results: [{ statement_id: 0 }] });
const refused = () =>
  new TypeError('fetch failed', { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) });
const status500 = () => new Response('{"error":"engine overloaded"}', { status: 500 });
const timedOut = () => new DOMException('The operation was aborted due to timeout', 'TimeoutError');
/** Never answers; gives up when the request is aborted. */
const hang: Answer = (call) =>
  new Promise((_, reject) => call.signal?.addEventListener('abort', () => reject(call.signal?.reason)));

class FakeInflux {
  readonly calls: Call[] = [];
  /** Answers to the next write requests, in order; then 204. */
  readonly writeAnswers: Answer[] = [];
  /** Answers to the next queries, in order; then an empty result. */
  readonly queryAnswers: Answer[] = [];
  inFlight = 0;
  maxInFlight = 0;

  constructor(readonly clock: FakeClock) {}

  readonly fetch = (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const body = init?.body instanceof URLSearchParams ? (init.body.get('q') ?? '') : String(init?.body ?? '');
    const call: Call = {
      path: url.pathname,
      url,
      body,
      atMs: this.clock.monotonicMs(),
      signal: init?.signal ?? undefined,
    };
    this.calls.push(call);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const answer = (call.path === '/write' ? this.writeAnswers : this.queryAnswers).shift();
      const result = await (answer ? answer(call) : call.path === '/write' ? noContent() : queryOk());
      if (result instanceof Error) throw result;
      return result;
    } finally {
      this.inFlight--;
    }
  }) as typeof fetch;

  get writes(): Call[] {
    return this.calls.filter((c) => c.path === '/write');
  }

  get queries(): string[] {
    return this.calls.filter((c) => c.path === '/query').map((c) => c.body);
  }

  /** The `seq` of every line of each write request. */
  writtenSeqs(): number[][] {
    return this.writes.map((c) => c.body.split('\n').map((line) => Number(/seq=(\d+)i/.exec(line)?.[1])));
  }
}

interface LogEntry {
  level: keyof Logger;
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger(): { logger: Logger; entries: LogEntry[]; at(level: keyof Logger): LogEntry[] } {
  const entries: LogEntry[] = [];
  const log = (level: keyof Logger) => (fields: object, message: string) =>
    void entries.push({ level, fields: fields as Record<string, unknown>, message });
  return {
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    entries,
    at: (level) => entries.filter((e) => e.level === level),
  };
}

/** Lets the sink's promises and the fake's answers run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves the fake clock in 10 ms steps, letting the sink run between them. */
async function advance(clock: FakeClock, ms: number): Promise<void> {
  await settle();
  for (let passed = 0; passed < ms; passed += 10) {
    clock.advance(10);
    await settle();
  }
}

function setup(options: Partial<InfluxSinkOptions> = {}) {
  const clock = new FakeClock();
  const influx = new FakeInflux(clock);
  const log = recordingLogger();
  const sink = new InfluxSink({
    url: 'http://influx.test:8086/',
    flushIntervalMs: 100,
    retry: { initialDelayMs: 100, maxDelayMs: 1000, random: () => 0.5 },
    logger: log.logger,
    fetch: influx.fetch,
    clock,
    ...options,
  });
  return { clock, influx, log, sink };
}

function writeSamples(sink: InfluxSink, count: number, firstSeq = 1): void {
  for (let seq = firstSeq; seq < firstSeq + count; seq++) sink.write(NODE, sample({ seq, ts: NOW + seq }));
}

describe('InfluxSink', () => {
  it('start: creates the native database, then writes to it in ms precision', async () => {
    const { clock, influx, sink } = setup();
    sink.start();
    writeSamples(sink, 2);
    await settle();
    assert.deepEqual(influx.queries, ['CREATE DATABASE "picluster"']);
    assert.equal(influx.writes.length, 0, 'nothing is written before the flush interval');
    await advance(clock, 100);
    assert.equal(influx.writes.length, 1);
    assert.equal(influx.writes[0]?.url.href, 'http://influx.test:8086/write?db=picluster&precision=ms');
    assert.deepEqual(influx.writtenSeqs(), [[1, 2]]);
    assert.deepEqual(sink.stats, { written: 2, dropped: 0, failures: 0, buffered: 0 });
    await sink.stop();
  });

  it('start (legacy): creates <prefix>node_vitals and its 365 d default retention policy', async () => {
    const { clock, influx, sink } = setup({ layout: 'legacy', legacyPrefix: 'lab_' });
    const autogenOnly = () =>
      Response.json({
        results: [
          { statement_id: 0, series: [{ columns: ['name'], values: [['autogen', '0s', '168h0m0s', 1, true]] }] },
        ],
      });
    influx.queryAnswers.push(queryOk, autogenOnly);
    sink.start();
    sink.write({ id: 'x', name: 'pi' }, sample());
    await advance(clock, 100);
    assert.equal(sink.database, 'lab_node_vitals');
    assert.deepEqual(influx.queries, [
      'CREATE DATABASE "lab_node_vitals"',
      'SHOW RETENTION POLICIES ON "lab_node_vitals"',
      'CREATE RETENTION POLICY "node_vitals_year_rp" ON "lab_node_vitals" DURATION 365d REPLICATION 1 DEFAULT',
    ]);
    assert.equal(influx.writes[0]?.url.searchParams.get('db'), 'lab_node_vitals');
    assert.equal(influx.writes[0]?.body.split('\n').length, 3);
    await sink.stop();
  });

  it('start (legacy): leaves an existing node_vitals_year_rp alone (the original made it with REPLICATION 3)', async () => {
    const { influx, sink } = setup({ layout: 'legacy' });
    const existing = () =>
      Response.json({
        results: [
          { statement_id: 0, series: [{ values: [['node_vitals_year_rp', '8760h0m0s', '168h0m0s', 3, true]] }] },
        ],
      });
    influx.queryAnswers.push(queryOk, existing);
    sink.start();
    await settle();
    assert.deepEqual(influx.queries, [
      'CREATE DATABASE "rpi_cluster_node_vitals"',
      'SHOW RETENTION POLICIES ON "rpi_cluster_node_vitals"',
    ]);
    await sink.stop();
  });

  it('retries the database setup with backoff until it works, and writes only after it', async () => {
    const { clock, influx, log, sink } = setup();
    const queryError = () => Response.json({ results: [{ statement_id: 0, error: 'meta service unavailable' }] });
    influx.queryAnswers.push(refused, refused, queryError);
    sink.start();
    writeSamples(sink, 1);
    await advance(clock, 500);
    const queryTimes = influx.calls.filter((c) => c.path === '/query').map((c) => c.atMs - 1_000_000);
    assert.deepEqual(queryTimes, [0, 50, 150, 350]);
    assert.equal(
      influx.calls.findIndex((c) => c.path === '/write'),
      4,
      'the first write follows the working setup',
    );
    assert.deepEqual(
      log.at('warn').map((e) => e.fields.kind),
      ['setup: unreachable (ECONNREFUSED)', 'setup: error: CREATE DATABASE "picluster": meta service unavailable'],
    );
    assert.equal(log.at('info').length, 1);
    await sink.stop();
  });

  it('batches: many writes make few requests of at most batchLines lines, one in flight at a time', async () => {
    const { clock, influx, sink } = setup({ batchLines: 5 });
    // Each answer takes a few turns of the event loop, so overlapping requests would show.
    influx.writeAnswers.push(...Array.from({ length: 3 }, () => () => settle().then(noContent)));
    sink.start();
    await settle();
    writeSamples(sink, 4);
    await settle();
    assert.equal(influx.writes.length, 0, 'below batchLines the sink waits for the flush interval');
    writeSamples(sink, 8, 5);
    await settle();
    assert.ok(influx.writes.length >= 1, 'a full batch goes before the flush interval');
    await advance(clock, 100);
    assert.deepEqual(influx.writtenSeqs(), [
      [1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10],
      [11, 12],
    ]);
    assert.equal(influx.maxInFlight, 1);
    assert.deepEqual(sink.stats, { written: 12, dropped: 0, failures: 0, buffered: 0 });
    await sink.stop();
  });

  it('keeps the lines while InfluxDB is down, retries with growing delay, logs the failure once and the recovery once', async () => {
    const { clock, influx, log, sink } = setup();
    influx.writeAnswers.push(refused, refused, refused, refused, refused);
    sink.start();
    writeSamples(sink, 3);
    await advance(clock, 600);
    assert.equal(sink.stats.buffered, 3);
    await advance(clock, 1200);
    const times = influx.writes.map((c) => c.atMs);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    // Full jitter pinned at 0.5: half of min(1000, 100 * 2^attempt).
    assert.deepEqual(gaps, [50, 100, 200, 400, 500]);
    assert.deepEqual(influx.writtenSeqs().at(-1), [1, 2, 3], 'the retained lines arrive');
    assert.deepEqual(sink.stats, { written: 3, dropped: 0, failures: 5, buffered: 0 });
    assert.deepEqual(
      log.at('warn').map((e) => e.fields.kind),
      ['write: unreachable (ECONNREFUSED)'],
    );
    const infos = log.at('info');
    assert.equal(infos.length, 1);
    assert.equal(infos[0]?.message, 'InfluxDB reachable again');
    assert.equal(infos[0]?.fields.failedAttempts, 5);
    await sink.stop();
  });

  it('logs each kind of failure once per outage, not once per attempt', async () => {
    const { clock, influx, log, sink } = setup({ retry: { initialDelayMs: 20, maxDelayMs: 20, random: () => 0.5 } });
    influx.writeAnswers.push(refused, refused, status500, status500, timedOut, refused);
    sink.start();
    writeSamples(sink, 1);
    await advance(clock, 300);
    assert.deepEqual(
      log.at('warn').map((e) => e.fields.kind),
      ['write: unreachable (ECONNREFUSED)', 'write: HTTP 500', 'write: timeout'],
    );
    assert.equal(log.at('info').length, 1);
    influx.writeAnswers.push(refused, refused);
    writeSamples(sink, 1, 2);
    await advance(clock, 300);
    assert.equal(log.at('warn').length, 4, 'a new outage is logged again');
    assert.equal(log.at('info').length, 2);
    assert.equal(sink.stats.failures, 8);
    await sink.stop();
  });

  it('reads no more of an error answer than it quotes: a server that sends without end is cut off', {
    timeout: 15_000,
  }, async () => {
    // Found by review: res.text() read the whole answer into a Pi primary's memory.
    const { clock, influx, log, sink } = setup();
    let cancelled = false;
    influx.writeAnswers.push(() => {
      const body = new ReadableStream<Uint8Array>({
        pull: (controller) => controller.enqueue(new Uint8Array(64 * 1024).fill(0x65)),
        cancel: () => {
          cancelled = true;
        },
      });
      return new Response(body, { status: 500 });
    });
    sink.start();
    writeSamples(sink, 1);
    await advance(clock, 300);
    assert.equal(cancelled, true);
    assert.deepEqual(
      log.at('warn').map((e) => e.fields.kind),
      ['write: HTTP 500'],
    );
    assert.deepEqual(influx.writtenSeqs().at(-1), [1], 'written on the retry');
    await sink.stop();
  });

  it('bounds the buffer: past maxBufferedLines the oldest lines go and the dropped counter grows', async () => {
    const { clock, influx, log, sink } = setup({ maxBufferedLines: 10 });
    influx.writeAnswers.push(refused);
    sink.start();
    await advance(clock, 100);
    writeSamples(sink, 25);
    assert.deepEqual(sink.stats, { written: 0, dropped: 15, failures: 0, buffered: 10 });
    await advance(clock, 200);
    assert.deepEqual(influx.writtenSeqs().at(-1), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    assert.deepEqual(sink.stats, { written: 10, dropped: 15, failures: 1, buffered: 0 });
    assert.equal(log.at('warn').filter((e) => e.message.startsWith('InfluxDB buffer full')).length, 1);
    await sink.stop();
  });

  it('counts lines pushed out during a request as dropped only if that request fails', async () => {
    for (const ok of [true, false]) {
      const { clock, influx, sink } = setup({ batchLines: 5, maxBufferedLines: 5 });
      let answer: (value: Response | Error) => void = () => {};
      influx.writeAnswers.push(() => new Promise<Response | Error>((resolve) => (answer = resolve)));
      sink.start();
      writeSamples(sink, 5);
      await settle();
      assert.equal(influx.writes.length, 1, 'a full batch is sent at once');
      writeSamples(sink, 3, 6);
      assert.deepEqual(sink.stats, { written: 0, dropped: 0, failures: 0, buffered: 5 });
      answer(ok ? noContent() : refused());
      await settle();
      assert.deepEqual(
        sink.stats,
        ok
          ? { written: 5, dropped: 0, failures: 0, buffered: 3 }
          : { written: 0, dropped: 3, failures: 1, buffered: 5 },
      );
      await advance(clock, 100);
      assert.deepEqual(influx.writtenSeqs().at(-1), ok ? [6, 7, 8] : [4, 5, 6, 7, 8]);
      await sink.stop();
    }
  });

  it('drops a batch InfluxDB rejects (HTTP 400) without retrying it, logging that once', async () => {
    const { clock, influx, log, sink } = setup({ batchLines: 2 });
    const rejected = () =>
      new Response('{"error":"partial write"}', {
        status: 400,
        headers: { 'X-Influxdb-Error': 'partial write: field type conflict dropped=2' },
      });
    influx.writeAnswers.push(rejected, rejected);
    sink.start();
    writeSamples(sink, 5);
    await advance(clock, 100);
    assert.deepEqual(influx.writtenSeqs(), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(sink.stats, { written: 1, dropped: 4, failures: 0, buffered: 0 });
    const warns = log.at('warn');
    assert.equal(warns.length, 1);
    assert.equal(warns[0]?.fields.error, 'partial write: field type conflict dropped=2');
    await sink.stop();
  });

  it('creates the database again when a write finds it gone (HTTP 404)', async () => {
    const { clock, influx, sink } = setup();
    influx.writeAnswers.push(() => new Response('{"error":"database not found: \\"picluster\\""}', { status: 404 }));
    sink.start();
    writeSamples(sink, 1);
    await advance(clock, 300);
    assert.deepEqual(
      influx.calls.map((c) => c.path),
      ['/query', '/write', '/query', '/write'],
    );
    assert.deepEqual(sink.stats, { written: 1, dropped: 0, failures: 1, buffered: 0 });
    await sink.stop();
  });

  it('stop: flushes what is buffered at once, then drops later writes without throwing', async () => {
    const { influx, sink } = setup({ batchLines: 4 });
    sink.start();
    await settle();
    writeSamples(sink, 3);
    await sink.stop();
    assert.deepEqual(influx.writtenSeqs(), [[1, 2, 3]]);
    writeSamples(sink, 2, 4);
    assert.deepEqual(sink.stats, { written: 3, dropped: 2, failures: 0, buffered: 0 });
    await sink.stop();
  });

  it('stop: gives a hanging InfluxDB at most requestTimeoutMs in all, then drops what is left', async () => {
    const { influx, log, sink } = setup({ requestTimeoutMs: 200 });
    influx.writeAnswers.push(hang, hang);
    sink.start();
    await settle();
    writeSamples(sink, 3);
    const started = performance.now();
    await sink.stop();
    const tookMs = performance.now() - started;
    assert.ok(tookMs >= 150 && tookMs < 1000, `stop took ${tookMs} ms`);
    assert.deepEqual(sink.stats, { written: 0, dropped: 3, failures: 1, buffered: 0 });
    assert.equal(log.at('warn').at(-1)?.message, 'stopping with vitals not written to InfluxDB');
  });

  it('write never throws, even for a sample it cannot format', () => {
    const { sink } = setup();
    sink.write({ id: 'n', name: undefined as unknown as string }, sample());
    sink.write(NODE, sample({ cpuPercent: Number.NaN }));
    assert.deepEqual(sink.stats, { written: 0, dropped: 1, failures: 0, buffered: 1 });
  });

  it('rejects bad options at construction', () => {
    assert.throws(() => new InfluxSink({ url: 'not a url' }), ConfigError);
    assert.throws(() => new InfluxSink({ url: 'http://x', batchLines: 0 }), /batchLines/);
    assert.throws(() => new InfluxSink({ url: 'http://x', layout: 'v2' as 'native' }), /layout/);
    assert.throws(() => new InfluxSink({ url: 'http://x', retry: { initialDelayMs: 10, maxDelayMs: 5 } }), /retry/);
  });
});
