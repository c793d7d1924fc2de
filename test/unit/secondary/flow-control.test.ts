// The vitals pump sends at most DEFAULTS.vitalsInFlight samples ahead of the primary's acks: a
// backlog waits in the outbox, not in the socket. Checked against a scripted primary (raw frames,
// the real handshake) that holds its acks back and then releases them.
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { it } from 'node:test';
import { DEFAULTS } from '../../../src/common/defaults.js';
import { randomHex, serverProof } from '../../../src/protocol/auth.js';
import { OPENING_MAGIC } from '../../../src/protocol/opening.js';
import { Secondary } from '../../../src/secondary/secondary.js';
import { tempDir, waitUntil } from '../../helpers/cluster.js';
import { frame, type RawMessage } from '../../helpers/raw-peer.js';

const TOKEN = 'flow-control-token-0123456789';
const READING = {
  ...{ ts: 0, cpuPercent: 1, ramAvailableBytes: 1, swapFreeBytes: 0, load1: 0, load5: 0, load15: 0 },
  ...{ uptimeS: 1, disks: [], nets: [] },
};

interface ScriptedPrimary {
  port: number;
  /** Until set, connections are closed at once (the node stays offline, its backlog grows). */
  open: boolean;
  seqs: number[];
  ack(seq: number): void;
  close(): void;
}

/** A primary that completes the handshake and records every vitals seq, acking only when told. */
function scriptedPrimary(): Promise<ScriptedPrimary> {
  let peer: net.Socket | undefined;
  const server = net.createServer((socket) => {
    if (!scripted.open) {
      socket.destroy();
      return;
    }
    peer = socket;
    const nonce = randomHex(32);
    let buffer = Buffer.alloc(0);
    let opened = false;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!opened) {
        if (buffer.length < OPENING_MAGIC.length) return;
        buffer = buffer.subarray(OPENING_MAGIC.length);
        opened = true;
        socket.write(
          frame({
            t: 'hello',
            p: {
              protocol: { min: 1, max: 1 },
              primaryId: 'scripted',
              nonce,
              heartbeatMs: 60_000,
              maxFrameBytes: 1 << 20,
            },
          }),
        );
      }
      while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
        const length = buffer.readUInt32BE(0);
        const message = JSON.parse(buffer.subarray(4, 4 + length).toString('utf8')) as RawMessage;
        buffer = buffer.subarray(4 + length);
        const p = message.p as Record<string, unknown>;
        if (message.t === 'auth') {
          const welcome = {
            nodeId: p.nodeId,
            lastSeq: 0,
            serverProof: serverProof(TOKEN, p.clientNonce as string, 'scripted'),
          };
          socket.write(frame({ t: 'welcome', re: message.id, p: welcome }));
        } else if (message.t === 'vitals') {
          scripted.seqs.push(p.seq as number);
        }
      }
    });
  });
  const scripted: ScriptedPrimary = {
    port: 0,
    open: false,
    seqs: [],
    ack: (seq) => peer?.write(frame({ t: 'ack', p: { seq } })),
    close: () => {
      peer?.destroy();
      server.close();
    },
  };
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      scripted.port = (server.address() as net.AddressInfo).port;
      resolve(scripted);
    });
  });
}

it('sends a backlog at most vitalsInFlight samples ahead of the acks, and the rest as acks come', async (t) => {
  const window = DEFAULTS.vitalsInFlight;
  const primary = await scriptedPrimary();
  t.after(() => primary.close());
  // Offline first (the primary closes every connection): the backlog builds up in the outbox.
  const secondary = new Secondary({
    primary: [{ host: '127.0.0.1', port: primary.port }],
    tls: false, // a scripted primary of raw frames
    dataDir: join(tempDir(t), 'node'),
    token: TOKEN,
    vitalsPeriodMs: 5,
    vitals: { read: async () => ({ ...READING, ts: Date.now() }) },
    machineInfo: async () => ({
      ...{ hostname: 'h', os: 'linux', kernel: '6', arch: 'x64', cpuModel: 'c', cpuCores: 1 },
      ...{ ramTotalBytes: 1, swapTotalBytes: 0, version: '0' },
    }),
    machineId: async () => 'm',
    reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
  });
  t.after(() => secondary.stop());
  await secondary.start();
  await waitUntil(() => (secondary.outbox?.size ?? 0) >= 3 * window, 10_000, 'a backlog of 3 windows');
  primary.open = true;
  await waitUntil(() => primary.seqs.length >= window, 10_000, 'the first window');
  // Samples keep being taken every 5 ms; without acks nothing more may come.
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    primary.seqs,
    Array.from({ length: window }, (_, i) => i + 1),
    'exactly one window, in order',
  );
  primary.ack(10);
  await waitUntil(() => primary.seqs.length >= window + 10, 5000, 'ten more after an ack of ten');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(primary.seqs.length, window + 10, 'no more than the window ahead of seq 10');
  assert.equal(primary.seqs.at(-1), window + 10);
});
