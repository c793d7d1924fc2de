// Identity on the cluster port (issue "Nobody in where they don't belong"): a client holding the
// cluster token can take neither a live node's id nor an id whose secret is not yet confirmed; the
// live node stays online with no reconnect. A secret the node never used (its session ended at
// once) goes, so the node can join again by token. A forged ERR_AUTH costs the node one attempt,
// never its secret.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Primary } from '../../src/primary/primary.js';
import { encodeFrame, FrameDecoder, OPENING_MAGIC, randomHex } from '../../src/protocol/index.js';
import { Secondary } from '../../src/secondary/secondary.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';
import { frame, RawPeer, vitalsPayload } from '../helpers/raw-peer.js';

const TOKEN = 'takeover-test-token-0123456789';

async function startPrimary(t: TestContext): Promise<Primary> {
  // Plaintext: these are the identity rules whatever the transport (a forged refusal needs none).
  const primary = await startLibraryPrimary(t, { token: TOKEN, heartbeatIntervalMs: 500, tls: false });
  return primary;
}

/** A token join of `nodeId` on a fresh link: the reply (welcome or error). */
async function tokenJoin(t: TestContext, port: number, nodeId: string) {
  const peer = await RawPeer.connect(port);
  t.after(() => peer.destroy());
  const id = peer.authWithToken(TOKEN, await peer.open(), nodeId, 'intruder');
  return peer.waitFor((m) => m.re === id, 5000, 'an answer to auth');
}

describe('no takeover', () => {
  it("a token cannot take a live node's id: refused, the node stays online with no reconnect", async (t) => {
    const primary = await startPrimary(t);
    const node = new Secondary({
      primary: `127.0.0.1:${primary.port}`,
      dataDir: tempDir(t),
      token: TOKEN,
      vitalsPeriodMs: 100,
      heartbeatIntervalMs: 500,
      tls: false,
    });
    await node.start();
    t.after(() => node.stop());
    await waitUntil(() => node.state === 'online', 10_000, 'online');
    await waitUntil(() => primary.node(node.nodeId)?.vitals, 5000, 'vitals');
    const reconnects = primary.stats.reconnects;
    let offline = 0;
    node.on('offline', () => offline++);
    const reply = await tokenJoin(t, primary.port, node.nodeId);
    assert.deepEqual([reply.t, reply.p?.code, reply.p?.message], ['error', 'ERR_AUTH', 'authentication failed']);
    await new Promise((r) => setTimeout(r, 1500)); // three heartbeats
    assert.equal(primary.node(node.nodeId)?.state, 'online');
    assert.equal(primary.node(node.nodeId)?.name, node.name, 'the intruder did not rename it');
    assert.deepEqual([offline, primary.stats.reconnects], [0, reconnects], 'no reconnect');
  });

  it('a token cannot take an id whose secret is not yet confirmed; a secret never used goes with its session', async (t) => {
    const primary = await startPrimary(t);
    // A node joins by token and says nothing after welcome: its secret is issued, unconfirmed.
    const first = await RawPeer.connect(primary.port);
    t.after(() => first.destroy());
    const { nodeId } = await first.handshake(TOKEN, 'quiet');
    assert.deepEqual(await primary.store.nodeSecret(nodeId).then((s) => s?.confirmed), false);
    const refused = await tokenJoin(t, primary.port, nodeId);
    assert.deepEqual([refused.t, refused.p?.code], ['error', 'ERR_AUTH']);
    assert.equal(primary.node(nodeId)?.state, 'online');
    assert.equal(primary.node(nodeId)?.name, 'quiet');
    // Its session ends before it used the secret: the secret goes, and the node may join by token.
    first.destroy();
    await waitUntil(async () => (await primary.store.nodeSecret(nodeId)) === undefined, 5000, 'the secret dropped');
    const again = await tokenJoin(t, primary.port, nodeId);
    assert.equal(again.t, 'welcome');
  });

  it("a node's first message confirms its secret; then only that secret opens the id", async (t) => {
    const primary = await startPrimary(t);
    const node = await RawPeer.connect(primary.port);
    t.after(() => node.destroy());
    const { nodeId, nodeSecret } = await node.handshake(TOKEN, 'talker');
    node.socket.write(frame({ t: 'vitals', p: vitalsPayload(1) }));
    await waitUntil(async () => (await primary.store.nodeSecret(nodeId))?.confirmed, 5000, 'confirmed');
    node.destroy();
    await waitUntil(() => primary.node(nodeId)?.state === 'lost', 5000, 'lost');
    assert.equal(
      (await tokenJoin(t, primary.port, nodeId)).t,
      'error',
      'no token join of an enrolled id, offline or not',
    );
    const back = await RawPeer.connect(primary.port);
    t.after(() => back.destroy());
    const id = back.authWith('node', nodeSecret, await back.open(), nodeId, 'talker');
    assert.equal((await back.waitFor((m) => m.re === id, 5000, 'welcome')).t, 'welcome');
  });
});

/**
 * A fake primary in front of the real one: the first `forged` connections are answered by it (a
 * hello, then ERR_AUTH to whatever auth comes), the later ones are passed to the real primary.
 */
async function forgingProxy(
  t: TestContext,
  real: { port: number; primaryId: string },
  forged: number,
): Promise<{ port: number; auths: string[] }> {
  const auths: string[] = [];
  let seen = 0;
  const server = net.createServer((client) => {
    client.on('error', () => client.destroy());
    if (seen++ >= forged) {
      const upstream = net.connect(real.port, '127.0.0.1');
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
      return;
    }
    const decoder = new FrameDecoder();
    let opened = false;
    client.on('data', (chunk: Buffer) => {
      let rest = chunk;
      if (!opened) {
        opened = true;
        rest = chunk.subarray(OPENING_MAGIC.length);
        client.write(
          encodeFrame({
            t: 'hello',
            p: {
              protocol: { min: 1, max: 1 },
              primaryId: real.primaryId, // public in every hello
              nonce: randomHex(32),
              heartbeatMs: 500,
              maxFrameBytes: 1 << 20,
            },
          }),
        );
      }
      for (const m of decoder.push(rest)) {
        if (m.t !== 'auth') continue;
        auths.push(String((m.p as { using: string }).using));
        client.end(encodeFrame({ t: 'error', re: m.id, p: { code: 'ERR_AUTH', message: 'authentication failed' } }));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, auths };
}

describe('a forged ERR_AUTH', () => {
  it('costs the node one attempt of its token, never its secret: it comes back with the secret it holds', async (t) => {
    const primary = await startPrimary(t);
    const dataDir = tempDir(t);
    const options = { dataDir, token: TOKEN, vitalsPeriodMs: 100, heartbeatIntervalMs: 500, tls: false as const };
    const enrol = new Secondary({ ...options, primary: `127.0.0.1:${primary.port}` });
    await enrol.start();
    await waitUntil(() => enrol.state === 'online', 10_000, 'enrolled online');
    await waitUntil(async () => (await primary.store.nodeSecret(enrol.nodeId))?.confirmed, 5000, 'enrolled');
    await enrol.stop();
    const secrets = readFileSync(join(dataDir, 'node-secrets.json'), 'utf8');

    // Two refusals forged in front of the real primary, then the way through.
    const proxy = await forgingProxy(t, { port: primary.port, primaryId: primary.primaryId }, 2);
    const node = new Secondary({
      ...options,
      primary: `127.0.0.1:${proxy.port}`,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    });
    await node.start();
    t.after(() => node.stop());
    await waitUntil(() => node.state === 'online', 10_000, 'online through the proxy, with its secret');
    assert.deepEqual(proxy.auths, ['node', 'token'], 'the secret, then the token once');
    assert.equal(primary.node(node.nodeId)?.state, 'online', 'back in with the secret it held');
    assert.equal(readFileSync(join(dataDir, 'node-secrets.json'), 'utf8'), secrets, 'the secret on disk is untouched');
  });
});
