// A node that sends a value outside the realistic ranges, a repeated mount, or a label or name of
// the wrong shape is refused with ERR_INVALID_MESSAGE and closed, counted in /metrics; an honest
// node beside it keeps reporting, its link untouched.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Secondary } from '../../src/secondary/secondary.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';
import { frame, RawPeer, vitalsPayload } from '../helpers/raw-peer.js';

const TOKEN = 'input-limits-test-token-0123';

it('bad values close only the sender, with ERR_INVALID_MESSAGE, counted', async (t) => {
  const primary = await startLibraryPrimary(t, { token: TOKEN, tls: false });
  const honest = new Secondary({
    primary: `127.0.0.1:${primary.port}`,
    dataDir: tempDir(t),
    token: TOKEN,
    tls: false,
    vitalsPeriodMs: 100,
  });
  await honest.start();
  t.after(() => honest.stop());
  await waitUntil(() => primary.node(honest.nodeId)?.vitals, 10_000, 'the honest node reporting');
  const connectedSince = primary.node(honest.nodeId)?.connectedSince;

  const bad: Array<[string, Record<string, unknown>]> = [
    ['tempC', vitalsPayload(1, { tempC: 900 })],
    ['mount', vitalsPayload(1, { disks: [1, 2].map(() => ({ mount: '/', freeBytes: 1, totalBytes: 2 })) })],
    ['load', vitalsPayload(1, { load5: -1 })],
  ];
  for (const [what, payload] of bad) {
    const peer = await RawPeer.connect(primary.port);
    t.after(() => peer.destroy());
    await peer.handshake(TOKEN, `sender-of-bad-${what}`);
    await peer.write(frame({ t: 'vitals', p: payload }));
    const error = await peer.waitFor((m) => m.t === 'error', 5000, `the refusal of ${what}`);
    assert.equal(error.p?.code, 'ERR_INVALID_MESSAGE', what);
    await waitUntil(() => peer.closed, 5000, `closed after ${what}`);
  }
  // A name with an escape sequence is refused before anything is admitted.
  const named = await RawPeer.connect(primary.port);
  t.after(() => named.destroy());
  await assert.rejects(named.handshake(TOKEN, 'pi\u001b]0;pwned\u0007'));
  assert.equal(named.messages.find((m) => m.t === 'error')?.p?.code, 'ERR_INVALID_MESSAGE');

  assert.equal(primary.stats.invalidMessages, 4);
  assert.equal(primary.node(honest.nodeId)?.connectedSince, connectedSince, 'the honest link untouched');
  assert.equal(primary.node(honest.nodeId)?.state, 'online');
  assert.equal(
    primary
      .nodes()
      .filter((n) => n.name.startsWith('sender-of-bad'))
      .every((n) => n.vitals === null),
    true,
    'nothing of theirs stored',
  );
});

it('the library refuses a node name or labels the primary would refuse, at construction', () => {
  const base = { primary: '127.0.0.1:1', token: TOKEN, tls: false as const };
  assert.throws(() => new Secondary({ ...base, name: 'pi\u001b[2J' }), /node name .*control characters/);
  assert.throws(() => new Secondary({ ...base, labels: { 'role=x': 'y' } }), /labels .*keys of 1-64 letters/);
  assert.throws(
    () => new Secondary({ ...base, labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }),
    /at most 32/,
  );
  assert.doesNotThrow(() => new Secondary({ ...base, name: 'pi-4', labels: { 'site/rack': 'a-1' } }));
});
