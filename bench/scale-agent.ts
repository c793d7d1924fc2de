// A worker of bench/scale.ts: thousands of lightweight simulated agents in one process, each
// speaking the real protocol with the real pieces of src/: the agent's `PrimaryDialer` (TCP, then
// TLS with the primary's fingerprint pinned and its session resumed; plaintext when the command
// carries no fingerprint), OPENING_MAGIC, a `Connection`
// (heartbeat 5 s), the secondary's `handshake()` (the cluster token on the first join, then the
// node secret it got, kept in memory), `info` once per session, a `vitals` message every 10 s
// (seq numbered in memory, random phase), `ack` handling, and reconnection with a default
// `Backoff` (250 ms initial, x2, 8 s cap, full jitter, reset after 30 s up). No outbox, no files:
// a sample due while offline is dropped. Reports online/offline/attempt events over IPC.

import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { silentLogger } from '../src/common/logger.js';
import { Backoff, sleep } from '../src/connection/backoff.js';
import { Connection } from '../src/connection/connection.js';
import { AuthError, type DisconnectionError, PiclusterError } from '../src/protocol/errors.js';
import { type InfoPayload, validateMessage } from '../src/protocol/messages.js';
import { OPENING_MAGIC } from '../src/protocol/opening.js';
import { handshake } from '../src/secondary/handshake.js';
import { PrimaryDialer } from '../src/secondary/primary-dialer.js';
import { PrimaryTrust } from '../src/secondary/primary-trust.js';
import {
  type AgentStats,
  realisticVitals,
  type ScaleCommand,
  type ScaleEventCode,
  type ScaleMessage,
  SEV,
} from './scale-common.js';
import { fakeInfo, fakeMachineId, nodeName } from './storm-common.js';

function post(message: ScaleMessage): void {
  process.send?.(message);
}

// The worker never outlives the orchestrator.
process.on('disconnect', () => process.exit(0));

// What the agents send must be what a real node sends: check the fakes against the schemas once.
validateMessage({ t: 'info', p: fakeInfo(0) });
validateMessage({ t: 'vitals', p: { ...realisticVitals(0, 1), seq: 1 } });

let pending: Array<[ScaleEventCode, number, number]> = [];
const flusher = setInterval(() => {
  if (pending.length === 0) return;
  const events = pending;
  pending = [];
  post({ kind: 'events', events });
}, 50);
flusher.unref();
const event = (code: ScaleEventCode, node: number): void => {
  pending.push([code, node, Date.now()]);
};

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();

const totals = { attempts: 0, vitalsSent: 0, vitalsSkipped: 0, authFailures: 0 };
const failures: Record<string, number> = {};
const abort = new AbortController();
// Every sleeping or dialing agent listens on this one signal.
setMaxListeners(0, abort.signal);
const HANDSHAKE_TIMEOUT_MS = 5_000;

class Agent {
  readonly nodeId = randomUUID();
  readonly name: string;
  readonly info: InfoPayload;
  readonly machineId: string;
  readonly backoff = new Backoff();
  /** The node secret, per primary id, from the first token join (memory only). */
  secret: { primaryId: string; value: string } | undefined;
  secretRejected = false;
  conn: Connection | undefined;
  online = false;
  seq = 0;
  acked = 0;
  tick = 0;

  constructor(
    readonly index: number,
    readonly options: Extract<ScaleCommand, { cmd: 'start' }>,
    readonly dialer: PrimaryDialer,
  ) {
    this.name = nodeName(index);
    this.info = fakeInfo(index);
    this.machineId = fakeMachineId(index);
  }

  start(): void {
    const { vitalsPeriodMs } = this.options;
    // A random phase, so that the agents' samples do not all fall in the same instant.
    setTimeout(
      () => {
        this.#sample();
        setInterval(() => this.#sample(), vitalsPeriodMs);
      },
      Math.floor(Math.random() * vitalsPeriodMs),
    );
    void this.#run();
  }

  #sample(): void {
    this.tick++;
    const conn = this.conn;
    if (!this.online || conn === undefined || conn.state !== 'open') {
      totals.vitalsSkipped++;
      return;
    }
    try {
      conn.send('vitals', { ...realisticVitals(this.index, this.tick), seq: this.seq + 1 });
      this.seq++;
      totals.vitalsSent++;
    } catch {
      totals.vitalsSkipped++; // the link went down in this very tick
    }
  }

  /** The same loop as Secondary#run: session, then a backoff sleep, forever. */
  async #run(): Promise<void> {
    while (!abort.signal.aborted) {
      let delayMs: number;
      try {
        await this.#session();
        delayMs = this.backoff.next();
      } catch (err) {
        if (abort.signal.aborted) break;
        delayMs = this.#onFailure(err);
      }
      try {
        await sleep(delayMs, abort.signal);
      } catch {
        break;
      }
    }
  }

  #onFailure(err: unknown): number {
    const code = err instanceof PiclusterError ? err.code : 'ERR_OTHER';
    failures[code] = (failures[code] ?? 0) + 1;
    if (err instanceof AuthError || (err instanceof PiclusterError && err.code === 'ERR_VERSION')) {
      totals.authFailures++;
      event(SEV.authFailed, this.index);
      if (this.secretRejected && this.options.token) return 0;
      return this.backoff.options.maxDelayMs;
    }
    return this.backoff.next();
  }

  async #session(): Promise<void> {
    const { host, port, token, heartbeatIntervalMs } = this.options;
    totals.attempts++;
    event(SEV.connecting, this.index);
    const { socket, proven } = await this.dialer.connect({ host, port }, HANDSHAKE_TIMEOUT_MS, abort.signal);
    socket.write(OPENING_MAGIC);
    const conn = new Connection(socket, { heartbeat: { intervalMs: heartbeatIntervalMs } });
    this.conn = conn;
    const gone = new Promise<DisconnectionError>((done) => conn.once('disconnect', done));
    const result = await handshake(conn, {
      nodeId: this.nodeId,
      name: this.name,
      labels: { rack: String(this.index % 16) },
      version: '0.1.0',
      machineId: this.machineId,
      token,
      secretFor: (primaryId) =>
        !this.secretRejected && this.secret?.primaryId === primaryId ? this.secret.value : undefined,
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
    }).catch((err: unknown) => {
      if (err instanceof AuthError && err.usedSecret) this.secretRejected = true;
      conn.destroy('handshake failed');
      throw err;
    });
    proven(); // as the agent does (a pin here: nothing to write)
    if (result.nodeSecret) {
      this.secret = { primaryId: result.primaryId, value: result.nodeSecret };
      this.secretRejected = false;
    }
    conn.setHeartbeatInterval(result.heartbeatMs);
    // Numbering continues past what the primary has (it drops seq <= its lastSeq as a resend).
    if (result.lastSeq > this.seq) this.seq = result.lastSeq;
    conn.on('message', (message) => {
      if (message.t === 'ack') {
        const { seq } = message.p as { seq: number };
        if (seq > this.acked) this.acked = seq;
      }
    });
    try {
      conn.send('info', this.info);
    } catch {
      // gone already: `gone` resolves at once
    }
    this.backoff.connected();
    this.online = true;
    event(SEV.online, this.index);
    const err = await gone;
    this.online = false;
    this.conn = undefined;
    this.backoff.disconnected();
    if (!abort.signal.aborted) {
      failures[err.code] = (failures[err.code] ?? 0) + 1;
      event(SEV.offline, this.index);
    }
  }
}

const agents: Agent[] = [];

function stats(): AgentStats {
  let online = 0;
  let ackedSeqSum = 0;
  let sentSeqSum = 0;
  for (const agent of agents) {
    if (agent.online) online++;
    ackedSeqSum += agent.acked;
    sentSeqSum += agent.seq;
  }
  const result: AgentStats = {
    agents: agents.length,
    online,
    ...totals,
    ackedSeqSum,
    sentSeqSum,
    failures: { ...failures },
    loopP99Ms: loop.percentile(99) / 1e6,
    loopMaxMs: loop.max / 1e6,
    rssBytes: process.memoryUsage.rss(),
  };
  loop.reset();
  return result;
}

process.on('message', (command: ScaleCommand) => {
  try {
    if (command.cmd === 'start') {
      // One trust for all (a pin holds no state); a dialer per agent (it keeps that agent's TLS session).
      const trust =
        command.fingerprint === undefined
          ? undefined
          : new PrimaryTrust('/nonexistent', { fingerprint: command.fingerprint }, silentLogger);
      for (let i = 0; i < command.count; i++)
        agents.push(new Agent(command.firstNode + i, command, new PrimaryDialer(trust)));
      // Every agent boots at once: the harshest first start.
      for (const agent of agents) agent.start();
    } else if (command.cmd === 'stats') {
      post({ kind: 'stats', stats: stats() });
    }
  } catch (err) {
    post({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});

process.on('uncaughtException', (err) => {
  post({ kind: 'error', message: err.stack ?? err.message });
});

post({ kind: 'ready' });
