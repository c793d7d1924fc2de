// A fuzzed primary (the security issue): fast-check throws random and mutated input at a live
// primary process, over TLS as nodes connect by default, for a bounded time, while three honest
// secondaries report every 200 ms. Before auth: random bytes, the opening magic then random
// frames, mutated `auth` requests. After auth (a fresh node by the token): mutated vitals, random
// message types, requests with random payloads, broken frame headers. The primary must not crash
// or log an error, must keep its memory bounded, and must lose no honest sample (each secondary's
// outbox against the store, as every fault test checks) nor drop an honest session.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import fc from 'fast-check';
import { OPENING_MAGIC } from '../../src/protocol/opening.js';
import { localCluster, stopAndCheck } from '../helpers/fault-cluster.js';
import { jepsen } from '../helpers/jepsen-log.js';
import { apiNodes, rssBytes, sleep } from '../helpers/observe.js';
import { frame, RawPeer } from '../helpers/raw-peer.js';

const MiB = 1024 * 1024;
/** How long the fuzzer runs. */
const FUZZ_MS = Number(process.env.PICLUSTER_FUZZ_MS ?? 20_000);
/** The primary's resident memory may grow this much over its size before the fuzz. */
const RSS_GROWTH_BOUND = 96 * MiB;

/** A JSON value from anywhere in the type's range, small enough to send many. */
const anyJson = fc.jsonValue({ maxDepth: 3 });

/** A field of a valid message set to anything, removed, or a strange key added. */
function mutated(base: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(base);
  return fc.oneof(
    fc.tuple(fc.constantFrom(...keys), anyJson).map(([key, value]) => ({ ...base, [key]: value })),
    fc.constantFrom(...keys).map((key) => {
      const copy = { ...base };
      delete copy[key];
      return copy;
    }),
    fc
      .tuple(fc.constantFrom('__proto__', 'constructor', 'prototype', 'x'.repeat(300), ''), anyJson)
      .map(([key, value]) => JSON.parse(`{${JSON.stringify(key)}:${JSON.stringify(value)},"seq":1}`)),
    fc.tuple(fc.constantFrom(...keys), fc.double(), fc.integer()).map(([key, d, i]) => ({ ...base, [key]: d, seq: i })),
    // A field set to an object with a long key of characters a refusal's schema path escapes
    // (`/` as `~1`, `~` as `~0`): a refusal quoting it once outgrew the 16 KiB frame limit before
    // `welcome` and the throw ended the primary (`labels` is where such a key is looked at).
    fc
      .tuple(fc.constantFrom(...keys), fc.constantFrom('/', '~'), fc.integer({ min: 6_000, max: 12_000 }))
      .map(([key, char, n]) => ({ ...base, [key]: { [char.repeat(n)]: 'v' } })),
  );
}

/** The body of one frame: a message (mutated or random), or raw bytes. */
const messageBody = (types: string[], payload: fc.Arbitrary<unknown>) =>
  fc.oneof(
    fc.record({ t: fc.constantFrom(...types), p: payload }),
    fc.record({ t: fc.constantFrom(...types), id: fc.integer(), p: payload }),
    fc.record({ t: fc.string({ maxLength: 80 }), re: fc.oneof(fc.integer(), anyJson), p: anyJson }),
    anyJson,
  );

/** One frame's bytes: well formed around a body, or with a lying length, or cut short. */
const frameBytes = (body: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 6, arbitrary: body.map((b) => frame(JSON.stringify(b))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => frame(Buffer.from(bytes))) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.nat(), body)
        .map(([length, b]) =>
          Buffer.concat([
            Buffer.from([length >>> 24, length >>> 16, length >>> 8, length]),
            Buffer.from(JSON.stringify(b)),
          ]),
        ),
    },
  );

const int = (min: number, max: number) => fc.integer({ min, max: Math.min(max, Number.MAX_SAFE_INTEGER) });
const num = (min: number, max: number) => fc.double({ min, max, noNaN: true });
const name = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('/', '/boot', 'eth0', 'wlan0') },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 64 }) },
);
/** A valid vitals payload, edges of every range included. */
const validVitals = fc.record(
  {
    seq: int(1, 2 ** 40),
    ts: int(0, 4_102_444_800_000),
    sentAt: int(0, 4_102_444_800_000),
    cpuPercent: num(0, 100),
    cpuMhz: num(0, 100_000),
    ramAvailableBytes: int(0, 2 ** 56),
    swapFreeBytes: int(0, 2 ** 56),
    load1: num(0, 1e6),
    load5: num(0, 1e6),
    load15: num(0, 1e6),
    uptimeS: num(0, 1e10),
    tempC: num(-100, 250),
    throttled: fc.record({
      now: fc.uniqueArray(fc.constantFrom('under-voltage', 'throttled', 'freq-capped'), { maxLength: 3 }),
      sinceBoot: fc.array(fc.string({ maxLength: 32 }), { maxLength: 3 }),
    }),
    disks: fc.uniqueArray(
      fc.tuple(name, int(0, 2 ** 40), int(0, 2 ** 40)).map(([mount, free, more]) => ({
        mount,
        freeBytes: free,
        totalBytes: free + more,
      })),
      { maxLength: 4, selector: (d) => d.mount },
    ),
    nets: fc.uniqueArray(fc.record({ iface: name, rxBytes: int(0, 2 ** 50), txBytes: int(0, 2 ** 50) }), {
      maxLength: 4,
      selector: (n) => n.iface,
    }),
  },
  {
    requiredKeys: [
      'seq',
      'ts',
      'cpuPercent',
      'ramAvailableBytes',
      'swapFreeBytes',
      'load1',
      'load5',
      'load15',
      'uptimeS',
      'disks',
      'nets',
    ],
  },
);
/** Mostly valid samples (they reach the store), the rest one field wrong. */
const vitals = fc.oneof(
  { weight: 3, arbitrary: validVitals as fc.Arbitrary<Record<string, unknown>> },
  { weight: 1, arbitrary: validVitals.chain((v) => mutated(v)) },
);
const AUTH = {
  nodeId: randomUUID(),
  name: 'fuzz',
  labels: {},
  version: 'fuzz',
  protocol: { min: 1, max: 1 },
  machineId: 'fuzz',
  clientNonce: 'a'.repeat(64),
  using: 'token',
  proof: 'b'.repeat(64),
};

type Case =
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'before-auth'; frames: Buffer[] }
  | { kind: 'after-auth'; frames: Buffer[] };

const cases: fc.Arbitrary<Case> = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => ({ kind: 'bytes' as const, bytes })),
  fc
    .array(frameBytes(messageBody(['auth', 'hello', 'vitals', 'ping'], mutated(AUTH))), { minLength: 1, maxLength: 4 })
    .map((frames) => ({ kind: 'before-auth' as const, frames })),
  fc
    .array(
      fc.oneof(
        { weight: 5, arbitrary: vitals.map((p) => frame(JSON.stringify({ t: 'vitals', p }))) },
        {
          weight: 2,
          arbitrary: frameBytes(
            messageBody(['vitals', 'info', 'query', 'ping', 'pong', 'ack', 'auth', 'error', 'hello', 'bye'], anyJson),
          ),
        },
        {
          weight: 1,
          arbitrary: fc
            .record({
              what: fc.constantFrom('primary', 'nodes', 'node', 'vitals', 'info', 'x'),
              id: fc.string(),
              limit: anyJson,
            })
            .map((p) => frame(JSON.stringify({ t: 'query', id: 1, p }))),
        },
      ),
      { minLength: 1, maxLength: 8 },
    )
    .map((frames) => ({ kind: 'after-auth' as const, frames })),
);

it(
  'a fuzzed primary: no crash, bounded memory, no honest sample lost',
  { timeout: FUZZ_MS + 120_000 },
  jepsen('fuzz', async (t, log) => {
    const c = await localCluster(t, log, {
      secondaries: [{ name: 'honest-1' }, { name: 'honest-2' }, { name: 'honest-3' }],
    });
    const token = readFileSync(join(c.primary.dataDir, 'token'), 'utf8').trim();
    const pid = c.primary.child.pid as number;
    const before = new Map((await apiNodes(c.primary.api)).map((n) => [n.id, n.connectedSince]));
    // Settle, then take the size the bound is measured from.
    await sleep(500);
    const rssBefore = rssBytes(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      if (c.primary.child.alive) rssPeak = Math.max(rssPeak, rssBytes(pid));
    }, 200);
    t.after(() => clearInterval(sampler));

    const counts = { bytes: 0, 'before-auth': 0, 'after-auth': 0, refusedHandshakes: 0 };
    const runCase = async (one: Case): Promise<void> => {
      counts[one.kind]++;
      const peer = await RawPeer.connect(c.primary.port, '127.0.0.1', { tls: true });
      try {
        if (one.kind === 'bytes') {
          await peer.write(Buffer.from(one.bytes));
        } else if (one.kind === 'before-auth') {
          await peer.write(Buffer.concat([OPENING_MAGIC, ...one.frames]));
        } else {
          try {
            await peer.handshake(token, 'fuzz-node', 5000);
          } catch {
            counts.refusedHandshakes++;
            return;
          }
          await peer.write(Buffer.concat(one.frames));
        }
        // Long enough for the primary to read it and answer or close; a case never waits long.
        await Promise.race([peer.waitClosed(300).catch(() => undefined), sleep(300)]);
      } finally {
        peer.destroy();
      }
      assert.ok(c.primary.child.alive, `the primary died on ${JSON.stringify(one).slice(0, 500)}`);
    };

    const started = performance.now();
    await fc.assert(fc.asyncProperty(cases, runCase), {
      seed: log.seed,
      numRuns: 1_000_000,
      interruptAfterTimeLimit: FUZZ_MS,
      markInterruptAsFailure: false,
      endOnFailure: true,
    });
    const elapsedS = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const runs = counts.bytes + counts['before-auth'] + counts['after-auth'];
    t.diagnostic(
      `${runs} cases in ${elapsedS.toFixed(1)} s (${JSON.stringify(counts)}); primary RSS ${(rssBefore / MiB).toFixed(1)} MiB before, peak ${(rssPeak / MiB).toFixed(1)} MiB`,
    );
    log.info('fuzz done', { runs, ...counts, rssBeforeMiB: rssBefore / MiB, rssPeakMiB: rssPeak / MiB });
    assert.ok(runs >= 50, `only ${runs} cases ran`);
    assert.ok(counts['after-auth'] - counts.refusedHandshakes >= 10, 'cases after auth ran');
    assert.ok(c.primary.child.alive, 'the primary died');
    assert.ok(rssPeak - rssBefore < RSS_GROWTH_BOUND, `RSS grew ${((rssPeak - rssBefore) / MiB).toFixed(1)} MiB`);
    // The honest nodes kept their sessions throughout.
    const after = await apiNodes(c.primary.api);
    for (const agent of c.agents) {
      const node = after.find((n) => n.id === agent.nodeId);
      assert.equal(node?.state, 'online', `${agent.name} online`);
      assert.equal(node?.connectedSince, before.get(agent.nodeId), `${agent.name} kept its session`);
    }
    // Every sample an honest node took is stored, once.
    await stopAndCheck(t, c);
  }),
);
