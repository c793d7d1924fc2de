// A backlog resent after a long outage, as raw frames to the real primary: each sample is filed
// at its own time when the node's clock is right (its `sentAt` says so), or at that time
// translated by the link's offset when the clock is days off; never all at the reconnect, which
// is where the primary put every sample more than a day older than its arrival.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { HOUR_MS, MINUTE_MS } from '../../src/store/store-api.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';
import { frame, RawPeer, vitalsPayload } from '../helpers/raw-peer.js';

const TOKEN = 'backlog-test-token-0123456789';
const SAMPLES = 13;
const SPACING_MS = 10 * MINUTE_MS;

it('a backlog from 26 h ago is filed at its sampling times, that of a node 3 days behind at its times translated by the link', async (t) => {
  // The upkeep never runs by itself here: the test rolls up once everything is stored.
  const primary = await startLibraryPrimary(t, { token: TOKEN, tls: false, pruneIntervalMs: HOUR_MS });
  const now = Date.now();
  // Mid-way through a 10-minute bucket, so a few milliseconds of transit never cross into another.
  const first = Math.floor((now - 26 * HOUR_MS) / SPACING_MS) * SPACING_MS + SPACING_MS / 2;
  for (const [name, offsetMs] of [
    ['clock-right', 0],
    ['clock-behind', -3 * 24 * HOUR_MS],
  ] as const) {
    const peer = await RawPeer.connect(primary.port);
    t.after(() => peer.destroy());
    const { nodeId } = await peer.handshake(TOKEN, name);
    // Samples 10 minutes apart from 26 h ago to 24 h ago (by our clock), as the node's clock has them.
    for (let seq = 1; seq <= SAMPLES; seq++) {
      const ts = first + (seq - 1) * SPACING_MS + offsetMs;
      await peer.write(frame({ t: 'vitals', p: vitalsPayload(seq, { ts, sentAt: Date.now() + offsetMs }) }));
    }
    await peer.waitFor((m) => m.t === 'ack' && m.p?.seq === SAMPLES, 10_000, 'the ack of the whole backlog');
    while (await primary.store.rollupStep(Date.now())) {}
    const series = await primary.store.vitalsSeries(nodeId, now - 27 * HOUR_MS, now + HOUR_MS, SPACING_MS, now);
    assert.equal(series.resolution, '1m');
    assert.deepEqual(
      series.points.map((p) => [p.ts, p.n]),
      Array.from({ length: SAMPLES }, (_, i) => [first - SPACING_MS / 2 + i * SPACING_MS, 1]),
      `${name}: one sample per 10 minutes from 26 h ago, none at the reconnect`,
    );
  }
});
