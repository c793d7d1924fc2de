// Agents for the floor peer of bench:scale (bench/scale-floor.ts, bench/scale-floor-server.ts):
// thousands of plain `node:net` sockets in one process, each behaving on the wire as a node does
// for the primary: the same 480-byte `vitals` sample every 10 s at a random phase, `ping` after
// one interval of its own silence, `pong` to a `ping`; the server's `ack`s are read and dropped.
// Commands over IPC: {cmd: 'start', port, count, firstNode, vitalsPeriodMs, heartbeatMs} → posts
// {kind: 'ready', connected} once every socket is connected; 'stats' → {kind: 'stats', ...}.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { BaselineDecoder, encodeFrame, type RawMessage } from './baseline.js';
import { realisticVitals } from './scale-common.js';

interface StartCommand {
  cmd: 'start';
  port: number;
  count: number;
  firstNode: number;
  vitalsPeriodMs: number;
  heartbeatMs: number;
}

const totals = { vitalsSent: 0, framesIn: 0, errors: 0, closed: 0 };

class FloorAgent {
  readonly decoder = new BaselineDecoder();
  seq = 0;
  tick = 0;
  lastSentAt = performance.now();
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly index: number,
    readonly options: StartCommand,
  ) {
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk, this.onMessage));
    socket.on('error', () => {
      totals.errors++;
      socket.destroy();
    });
    socket.on('close', () => {
      totals.closed++;
      clearTimeout(this.timer);
    });
    this.arm();
    setTimeout(
      () => {
        this.sample();
        setInterval(() => this.sample(), options.vitalsPeriodMs).unref();
      },
      Math.floor(Math.random() * options.vitalsPeriodMs),
    ).unref();
  }

  send(message: RawMessage): void {
    if (this.socket.destroyed) return;
    this.socket.write(encodeFrame(message));
    this.lastSentAt = performance.now();
  }

  sample(): void {
    this.tick++;
    this.send({ t: 'vitals', p: { ...realisticVitals(this.index, this.tick), seq: ++this.seq } });
    totals.vitalsSent++;
  }

  arm(): void {
    const delay = this.lastSentAt + this.options.heartbeatMs - performance.now();
    this.timer = setTimeout(this.onTimer, Math.max(1, delay));
  }

  onTimer = (): void => {
    if (this.socket.destroyed) return;
    if (performance.now() - this.lastSentAt >= this.options.heartbeatMs) this.send({ t: 'ping' });
    this.arm();
  };

  onMessage = (message: RawMessage): void => {
    totals.framesIn++;
    if (message.t === 'ping') this.send({ t: 'pong' });
  };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

const agents: FloorAgent[] = [];

async function start(command: StartCommand): Promise<void> {
  // 100 dials at a time: the listen backlog is not what is measured.
  for (let i = 0; i < command.count; i += 100) {
    const batch = Math.min(100, command.count - i);
    const sockets = await Promise.all(Array.from({ length: batch }, () => connect(command.port)));
    sockets.forEach((socket, j) => {
      agents.push(new FloorAgent(socket, command.firstNode + i + j, command));
    });
  }
  process.send?.({ kind: 'ready', connected: agents.length });
}

process.on('message', (command: StartCommand | 'stats') => {
  if (command === 'stats') {
    process.send?.({ kind: 'stats', agents: agents.length, rssBytes: process.memoryUsage.rss(), ...totals });
    return;
  }
  start(command).catch((err: unknown) => {
    process.send?.({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
  });
});
process.on('disconnect', () => process.exit(0));
