// A TLS server that is not the cluster's primary, for the trust tests: a wrong address, another
// cluster's primary, a prober. It completes the TLS handshake with its own self-signed certificate,
// then either says nothing at all ('silent') or plays the handshake without knowing the cluster's
// credentials ('wrong proof': hello, then a welcome whose serverProof is made with another key).
import type net from 'node:net';
import type { TestContext } from 'node:test';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { randomHex, serverProof } from '../../src/protocol/auth.js';
import { OPENING_MAGIC } from '../../src/protocol/opening.js';
import { frame, type RawMessage } from './raw-peer.js';

export type ImpostorMode = 'silent' | 'wrong proof';

export interface ImpostorPrimary {
  port: number;
  /** TLS handshakes completed with it. */
  connections: number;
}

/** Starts an impostor on 127.0.0.1 (an ephemeral port), closed when the test ends. */
export async function startImpostorPrimary(t: TestContext, mode: ImpostorMode): Promise<ImpostorPrimary> {
  const made = await generate([{ name: 'commonName', value: 'impostor' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 3600_000),
  });
  const impostor: ImpostorPrimary = { port: 0, connections: 0 };
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ cert: made.cert, key: made.private }, (socket) => {
    impostor.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // the node hangs up when it sees through us
    if (mode === 'wrong proof') playWithoutCredentials(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  impostor.port = (server.address() as net.AddressInfo).port;
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return impostor;
}

/** hello, then a welcome to any auth, with a serverProof made with a key that is not the cluster's. */
function playWithoutCredentials(socket: tls.TLSSocket): void {
  let buffer = Buffer.alloc(0);
  let opened = false;
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (!opened) {
      if (buffer.length < OPENING_MAGIC.length) return;
      buffer = buffer.subarray(OPENING_MAGIC.length);
      opened = true;
      const hello = { protocol: { min: 1, max: 1 }, primaryId: 'impostor', nonce: randomHex(32) };
      socket.write(frame({ t: 'hello', p: { ...hello, heartbeatMs: 60_000, maxFrameBytes: 1 << 20 } }));
    }
    while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
      const length = buffer.readUInt32BE(0);
      const message = JSON.parse(buffer.subarray(4, 4 + length).toString('utf8')) as RawMessage;
      buffer = buffer.subarray(4 + length);
      if (message.t !== 'auth') continue;
      const p = message.p as { nodeId: string; clientNonce: string };
      const proof = serverProof('not-the-cluster-token-0123456789', p.clientNonce, 'impostor');
      socket.write(frame({ t: 'welcome', re: message.id, p: { nodeId: p.nodeId, lastSeq: 0, serverProof: proof } }));
    }
  });
}
