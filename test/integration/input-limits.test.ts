// A node that sends a value outside the realistic ranges, a repeated mount, or a label or name of
// the wrong shape is refused with ERR_INVALID_MESSAGE and closed, counted in /metrics; an honest
// node beside it keeps reporting, its link untouched.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { clientProof, MAX_WIRE_ERROR_CHARS } from '../../src/protocol/index.js';
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

it('an auth whose refusal would quote more than a frame before welcome holds is refused, and the primary lives', async (t) => {
  // The schema path of a label key of 8,200 `/`s (each quoted as `~1`) made the error frame larger
  // than the 16 KiB limit before `welcome`: the throw from the socket callback ended the primary.
  const primary = await startLibraryPrimary(t, { token: TOKEN, tls: false });
  const honest = new Secondary({ primary: `127.0.0.1:${primary.port}`, dataDir: tempDir(t), token: TOKEN, tls: false });
  await honest.start();
  t.after(() => honest.stop());
  await waitUntil(() => primary.node(honest.nodeId)?.state === 'online', 10_000, 'the honest node online');
  const peer = await RawPeer.connect(primary.port);
  t.after(() => peer.destroy());
  const hello = await peer.open();
  const nodeId = randomUUID();
  peer.request('auth', {
    nodeId,
    name: 'slashes',
    labels: { ['/'.repeat(8_200)]: 'v' },
    version: 'raw',
    protocol: { min: 1, max: 1 },
    machineId: `raw-${nodeId}`,
    clientNonce: 'a'.repeat(64),
    using: 'token',
    proof: clientProof(TOKEN, String(hello.p?.nonce), nodeId),
  });
  const error = await peer.waitFor((m) => m.t === 'error', 5000, 'the refusal');
  assert.equal(error.p?.code, 'ERR_INVALID_MESSAGE');
  assert.ok(String(error.p?.message).length <= MAX_WIRE_ERROR_CHARS);
  await peer.waitClosed(5000);
  // Still serving: a new node joins, and the honest one never left.
  const next = await RawPeer.connect(primary.port);
  t.after(() => next.destroy());
  await next.handshake(TOKEN, 'after-the-slashes');
  assert.equal(primary.node(honest.nodeId)?.state, 'online');
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
