// The floor peer of bench:scale (bench/scale-floor.ts): the least a Node.js server can do for the
// primary's socket traffic at scale, in one process. The same frames on the wire as the raw peers
// of `npm run bench` (4-byte length + JSON, `encodeFrame`/`BaselineDecoder` of bench/baseline.ts),
// and the same events per node as the primary under the contract's heartbeat rule: it reads each
// `vitals` (JSON.parse, nothing checked, nothing stored), answers it with a cumulative `ack` at
// the next tick of a commit-window timer (as the VitalsWriter acknowledges after a commit), answers
// `ping` with `pong`, sends `ping` when it has been silent for one interval and drops a peer silent
// for three (one lazy timer per peer, as src/connection/heartbeat.ts). No handshake, no TLS, no
// validation, no store, no logging, no metrics: what is left is Node's sockets, timers, JSON and GC.
// Forked by bench/scale-floor.ts with an IPC channel: it posts {kind: 'listening', port}, and
// answers 'stats' with its frame counters.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { BaselineDecoder, encodeFrame, type RawMessage } from './baseline.js';

const HEARTBEAT_MS = Number(process.env.FLOOR_HEARTBEAT_MS ?? 5_000);
const MAX_MISSED = 3;
/** The primary's commit window under load: a batch commits 20 ms after 256 samples wait (about 256 ms at 1,000 samples/s). */
const ACK_WINDOW_MS = Number(process.env.FLOOR_ACK_WINDOW_MS ?? 256);

const counters = { framesIn: 0, framesOut: 0, connected: 0, dropped: 0 };

class Peer {
  readonly socket: net.Socket;
  readonly decoder = new BaselineDecoder();
  lastSeq = 0;
  lastSentAt = performance.now();
  lastHeardAt = this.lastSentAt;
  timer: NodeJS.Timeout | undefined;

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.arm();
  }

  send(message: RawMessage): void {
    this.socket.write(encodeFrame(message));
    this.lastSentAt = performance.now();
    counters.framesOut++;
  }

  arm(): void {
    const next = Math.min(this.lastSentAt + HEARTBEAT_MS, this.lastHeardAt + HEARTBEAT_MS * MAX_MISSED);
    this.timer = setTimeout(this.onTimer, Math.max(1, next - performance.now()));
  }

  onTimer = (): void => {
    const now = performance.now();
    if (now - this.lastHeardAt >= HEARTBEAT_MS * MAX_MISSED) {
      counters.dropped++;
      this.socket.destroy();
      return;
    }
    if (now - this.lastSentAt >= HEARTBEAT_MS) this.send({ t: 'ping' });
    this.arm();
  };

  onMessage = (message: RawMessage): void => {
    counters.framesIn++;
    if (message.t === 'vitals') {
      this.lastSeq = (message.p as { seq: number }).seq;
      owed.add(this);
    } else if (message.t === 'ping') this.send({ t: 'pong' });
  };
}

/** Peers owed an `ack`, sent at the next tick of the window. */
const owed = new Set<Peer>();
setInterval(() => {
  for (const peer of owed) peer.send({ t: 'ack', p: { seq: peer.lastSeq } });
  owed.clear();
}, ACK_WINDOW_MS);

const server = net.createServer({ noDelay: true }, (socket) => {
  counters.connected++;
  const peer = new Peer(socket);
  socket.on('data', (chunk: Buffer) => {
    peer.lastHeardAt = performance.now();
    peer.decoder.push(chunk, peer.onMessage);
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    counters.connected--;
    clearTimeout(peer.timer);
    owed.delete(peer);
  });
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  process.send?.({ kind: 'listening', port: (server.address() as net.AddressInfo).port });
});

process.on('message', (message) => {
  if (message === 'stats') process.send?.({ kind: 'stats', ...counters });
});
process.on('disconnect', () => process.exit(0));
