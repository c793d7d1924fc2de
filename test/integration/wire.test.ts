// Raw bytes against the real primary, asserting the exact answer, so the protocol cannot drift
// silently (mini-redis tests/server.rs): the opening, the hello, and everything refused before
// authentication.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import type { Primary } from '../../src/primary/primary.js';
import { encodeFrame, FrameDecoder, type Message, OPENING_MAGIC } from '../../src/protocol/index.js';
import { waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';
import { frame, RawPeer, vitalsPayload } from '../helpers/raw-peer.js';

const TOKEN = 'wire-test-token-0123456789';

async function startPrimary(t: TestContext, handshakeTimeoutMs = 5000): Promise<Primary> {
  const logged: string[] = [];
  const log = (level: string) => (_fields: object, message: string) => logged.push(`${level} ${message}`);
  const primary = await startLibraryPrimary(t, {
    token: TOKEN,
    handshakeTimeoutMs,
    // The frames themselves, byte for byte: inside TLS they are the same (tls.test.ts).
    tls: false,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  });
  Object.assign(primary, { logged });
  return primary;
}

/** A raw client: what it received (decoded) and when the primary closed it. */
async function rawClient(
  port: number,
  bytes: Buffer[],
): Promise<{ messages: Message[]; closed: Promise<number>; socket: net.Socket }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const started = Date.now();
  const decoder = new FrameDecoder();
  const messages: Message[] = [];
  let raw = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    raw = Buffer.concat([raw, chunk]);
    messages.push(...decoder.push(chunk));
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  for (const b of bytes) socket.write(b);
  return { messages, closed, socket };
}

describe('wire format against the real primary', () => {
  it('answers the opening magic with exactly one hello', async (t) => {
    const primary = await startPrimary(t);
    const { messages, socket } = await rawClient(primary.port, [OPENING_MAGIC]);
    await waitUntil(() => messages.length > 0, 2000, 'hello');
    const [hello] = messages;
    assert.equal(hello?.t, 'hello');
    assert.deepEqual(Object.keys(hello?.p as object).sort(), [
      'heartbeatMs',
      'maxFrameBytes',
      'nonce',
      'primaryId',
      'protocol',
    ]);
    const p = hello?.p as { protocol: unknown; nonce: string; maxFrameBytes: number; heartbeatMs: number };
    assert.deepEqual(p.protocol, { min: 1, max: 1 });
    assert.match(p.nonce, /^[0-9a-f]{64}$/);
    assert.deepEqual([p.maxFrameBytes, p.heartbeatMs], [1048576, 5000]);
    socket.destroy();
  });

  it('closes anything that does not open with the magic, without answering', async (t) => {
    const primary = await startPrimary(t);
    const http = await rawClient(primary.port, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    await http.closed;
    assert.deepEqual(http.messages, []);
    const legacy = await rawClient(primary.port, [Buffer.from('{"type": "info", "payload": "uuid"}\r')]);
    await legacy.closed;
    assert.deepEqual(legacy.messages, []);
    assert.ok((primary as unknown as { logged: string[] }).logged.some((l) => /legacy support is off/.test(l)));
  });

  it('refuses a request before auth with ERR_AUTH and closes; a one-way message closes at once', async (t) => {
    const primary = await startPrimary(t);
    const query = await rawClient(primary.port, [
      OPENING_MAGIC,
      encodeFrame({ t: 'query', id: 1, p: { what: 'nodes' } }),
    ]);
    await query.closed;
    const reply = query.messages.find((m) => m.re === 1);
    assert.deepEqual([reply?.t, (reply?.p as { code?: string } | undefined)?.code], ['error', 'ERR_AUTH']);
    const oneWay = await rawClient(primary.port, [OPENING_MAGIC, encodeFrame({ t: 'bye', p: { reason: 'x' } })]);
    await oneWay.closed;
    // Destroyed at once: the hello may or may not have left before; nothing else does.
    assert.ok(oneWay.messages.every((m) => m.t === 'hello'));
    assert.equal(primary.nodes().length, 0);
  });

  it('an oversized frame gets ERR_FRAME_TOO_LARGE and a closed connection; others are unaffected', async (t) => {
    const primary = await startPrimary(t);
    const bystander = await rawClient(primary.port, [OPENING_MAGIC]);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1024 * 1024 + 1);
    const big = await rawClient(primary.port, [OPENING_MAGIC, header, Buffer.alloc(1024)]);
    await big.closed;
    const error = big.messages.find((m) => m.t === 'error');
    assert.equal((error?.p as { code?: string } | undefined)?.code, 'ERR_FRAME_TOO_LARGE');
    await waitUntil(() => bystander.messages.length > 0, 2000, 'bystander hello');
    assert.ok(!bystander.socket.destroyed);
    bystander.socket.destroy();
  });

  it('a second auth sent on the same link before the first is answered is refused; the node is online once, on a live link', async (t) => {
    const primary = await startPrimary(t);
    const peer = await RawPeer.connect(primary.port);
    t.after(() => peer.destroy());
    const hello = await peer.open();
    const nodeId = randomUUID();
    // Both in one write: the second arrives while the first is being stored.
    const first = peer.authWithToken(TOKEN, hello, nodeId, 'twice');
    const second = peer.authWithToken(TOKEN, hello, nodeId, 'twice');
    const replies = await Promise.all(
      [first, second].map((id) => peer.waitFor((m) => m.re === id, 5000, `the reply to request ${id}`)),
    );
    assert.deepEqual(
      replies.map((m) => (m.t === 'error' ? m.p?.code : m.t)),
      ['welcome', 'ERR_AUTH'],
    );
    await waitUntil(() => primary.registry.get(nodeId)?.state === 'online', 5000, 'the node online');
    const session = primary.registry.get(nodeId)?.session;
    assert.equal(session?.state, 'open', 'the registered session is a live one');
  });

  it('a link that dies while its node is stored leaves the stored row as the registry has it', async (t) => {
    const primary = await startPrimary(t);
    /** The node on a new link that proves its secret under another name and hangs up at once. */
    const dieDuringAdmission = async (nodeId: string, secret: string) => {
      const joined = async () =>
        (await primary.store.events({ node: nodeId })).filter((e) => e.type === 'joined').length;
      const joinedBefore = await joined();
      const dying = await RawPeer.connect(primary.port);
      t.after(() => dying.destroy());
      dying.authWith('node', secret, await dying.open(), nodeId, 'renamed-on-a-dead-link');
      dying.socket.end();
      await waitUntil(async () => (await joined()) > joinedBefore, 5000, "the dying link's admission stored");
      // Node writes commit in order: once a later node is admitted, the aftermath is stored too.
      const barrier = await RawPeer.connect(primary.port);
      t.after(() => barrier.destroy());
      await barrier.handshake(TOKEN, 'barrier');
      // Almost always the hang-up is read before the admission commits (the old code then wrote
      // the node lost under the dead link's name). Should the commit win on a stalled machine, the
      // dying link was admitted and then ended. Either way the store and the registry agree.
      const registered = primary.registry.get(nodeId);
      const stored = await primary.store.getNode(nodeId);
      const facts = (n: typeof registered | typeof stored) => [n?.state, n?.name, n?.address, n?.connectedSince];
      assert.deepEqual(facts(stored), facts(registered));
      return registered?.state;
    };

    // Online on a live link: that link's row stays.
    const live = await RawPeer.connect(primary.port);
    t.after(() => live.destroy());
    const { nodeId, nodeSecret } = await live.handshake(TOKEN, 'dying-twin');
    // Its first message on the session confirms the secret the welcome issued.
    live.socket.write(frame({ t: 'vitals', p: vitalsPayload(1) }));
    await waitUntil(async () => (await primary.store.nodeSecret(nodeId))?.confirmed, 5000, 'the secret confirmed');
    const state = await dieDuringAdmission(nodeId, nodeSecret);
    if (state === 'online') assert.equal(primary.registry.get(nodeId)?.name, 'dying-twin');

    // Lost: it stays lost under its own name, and the dead link's `joined` is followed by a `lost`.
    live.destroy();
    await waitUntil(() => primary.registry.get(nodeId)?.state === 'lost', 5000, 'the node lost');
    assert.equal(await dieDuringAdmission(nodeId, nodeSecret), 'lost');
    await waitUntil(
      async () => (await primary.store.events({ node: nodeId }))[0]?.type === 'lost',
      5000,
      'the newest event of the node a lost',
    );
  });

  it('closes a connection that never finishes the handshake at the deadline', async (t) => {
    const primary = await startPrimary(t, 300);
    const silent = await rawClient(primary.port, []);
    const magicOnly = await rawClient(primary.port, [OPENING_MAGIC]);
    const [a, b] = await Promise.all([silent.closed, magicOnly.closed]);
    assert.ok(a >= 250 && a < 1500, `silent closed after ${a} ms`);
    assert.ok(b >= 250 && b < 1500, `magic-only closed after ${b} ms`);
  });
});
