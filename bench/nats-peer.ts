// The NATS peer of the protocol bench (bench/run.ts): Debian's `nats-server` started on a free
// loopback port in a temporary directory, and the npm `nats` v2 client on both sides. The same
// message objects as the other peers, JSON-encoded with the client's JSONCodec; one-way messages
// are published to a subject the receiver subscribed to, requests use the client's request/reply
// (a muxed inbox) and the receiver echoes the payload with `msg.respond`.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, JSONCodec, type NatsConnection } from 'nats';
import type { RawMessage } from './baseline.js';

export const NATS_RR_SUBJECT = 'bench.rr';
export const NATS_SERVER_BIN = 'nats-server';

export interface NatsServer {
  port: number;
  child: ChildProcess;
  /** Kills the server (SIGKILL if it lingers) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
  /** The same at once, for an exiting process: SIGKILL and remove the directory. */
  killNow(): void;
}

/** Why nats-server cannot be used here, or undefined when it can. */
export function natsServerMissing(): string | undefined {
  const probe = spawnSync(NATS_SERVER_BIN, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) return `${NATS_SERVER_BIN} not found (apt-get install nats-server): NATS peer omitted`;
  return undefined;
}

/**
 * Starts nats-server on 127.0.0.1 with a random port and resolves once it listens. Its slow
 * consumer limit is raised so that a receiver that falls behind during a one-way run is buffered,
 * not cut off (the publisher also flushes every NATS_FLUSH_EVERY messages).
 */
export async function startNatsServer(onSpawn: (child: ChildProcess) => void): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-bench-nats-'));
  const config = join(dir, 'nats.conf');
  writeFileSync(
    config,
    ['listen: "127.0.0.1:-1"', 'max_pending: 1073741824', 'write_deadline: "60s"', `pid_file: "${dir}/nats.pid"`].join(
      '\n',
    ),
  );
  const child = spawn(NATS_SERVER_BIN, ['-c', config], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  onSpawn(child);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      if (child.exitCode !== null || child.signalCode !== null) done();
      else {
        child.once('exit', done);
        child.kill('SIGTERM');
      }
    });
    return stopped;
  };
  const port = await new Promise<number>((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      const match = /Listening for client connections on [\d.]+:(\d+)/.exec(log);
      if (match) {
        child.stderr?.off('data', onData);
        child.stderr?.resume(); // keep draining its log
        resolve(Number(match[1]));
      }
    };
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`nats-server exited (${code ?? signal}): ${log.trim()}`)));
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  const killNow = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  return { port, child, stop, killNow };
}

const codec = JSONCodec<RawMessage>();

export function connectNats(port: number): Promise<NatsConnection> {
  return connect({ servers: `127.0.0.1:${port}`, noEcho: true });
}

/** The receiver's echo service: replies `{t: 'result', p}` to each request. */
export function serveNatsEcho(nc: NatsConnection): void {
  nc.subscribe(NATS_RR_SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      const m = codec.decode(msg.data);
      msg.respond(codec.encode({ t: 'result', p: m.p }));
    },
  });
}

/** Subscribes `subject` for one one-way run, calling `onMessage` per decoded message. */
export async function receiveNats(
  nc: NatsConnection,
  subject: string,
  count: number,
  onMessage: (m: RawMessage) => void,
): Promise<void> {
  nc.subscribe(subject, {
    max: count,
    callback: (err, msg) => {
      if (!err) onMessage(codec.decode(msg.data));
    },
  });
  await nc.flush(); // the server knows the subscription before the sender starts
}

/** Publisher flow control: the client has no write backpressure, so it waits for a PONG now and then. */
const NATS_FLUSH_EVERY = 8_192;

export async function sendNats(
  nc: NatsConnection,
  subject: string,
  count: number,
  make: (i: number) => RawMessage,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    nc.publish(subject, codec.encode(make(i)));
    if ((i + 1) % NATS_FLUSH_EVERY === 0) await nc.flush();
  }
  await nc.flush();
}

export async function requestNats(nc: NatsConnection, type: string, payload: unknown): Promise<unknown> {
  const reply = await nc.request(NATS_RR_SUBJECT, codec.encode({ t: type, p: payload }), { timeout: 10_000 });
  return codec.decode(reply.data).p;
}
