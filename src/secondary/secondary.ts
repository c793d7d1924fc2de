// The agent on every node: dial the primary (one address after another), open, hand-shake, send
// machine info and the vitals outbox in order, answer requests, and reconnect forever with capped,
// jittered backoff. One `async` loop owns the link (nats' dial loop); one state field.

import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULTS } from '../common/defaults.js';
import { type Logger, silentLogger } from '../common/logger.js';
import { Backoff, sleep } from '../connection/backoff.js';
import { dial } from '../connection/connect.js';
import { Connection, type RequestHandler, type RequestOptions } from '../connection/connection.js';
import { readMachineId, readMachineInfo, VitalsReader } from '../node/index.js';
import { AuthError, DisconnectionError, PiclusterError, ProtocolError } from '../protocol/errors.js';
import type { InfoPayload, VitalsPayload } from '../protocol/messages.js';
import type { NodeView } from '../protocol/node-view.js';
import { OPENING_MAGIC } from '../protocol/opening.js';
import { handshake } from './handshake.js';
import { loadNodeIdentity, SecretStore } from './identity.js';
import { Outbox } from './outbox.js';
import { type PrimaryAddress, parsePrimaries } from './primary-address.js';

import type { SecondaryEvents, SecondaryOptions, SecondaryPlugin, SecondaryState } from './secondary-options.js';

export type { PrimaryAddress, SecondaryEvents, SecondaryOptions, SecondaryPlugin, SecondaryState };

export class Secondary extends EventEmitter<SecondaryEvents> {
  readonly dataDir: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly primaries: PrimaryAddress[];
  #nodeId = '';
  #state: SecondaryState = 'idle';
  readonly #options: SecondaryOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #handlers = new Map<string, RequestHandler>();
  readonly #teardowns: Array<() => void> = [];
  readonly #abort = new AbortController();
  #outbox: Outbox | undefined;
  #secrets: SecretStore | undefined;
  #machineId: string | undefined;
  #info: InfoPayload | undefined;
  #vitals: { read(): Promise<Omit<VitalsPayload, 'seq'>> } | undefined;
  #conn: Connection | undefined;
  #sampler: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;
  #secretRejected = false;
  #lastFailure = '';
  /** Highest seq written to the current session (samples are sent strictly in order). */
  #sentSeq = 0;
  #ackedSeq = 0;
  #pumping = false;
  #warnedLargeSample = false;
  /** The outbox's last seq when this process started, and whether a primary welcomed us since. */
  #startSeq = 0;
  #welcomed = false;

  constructor(options: SecondaryOptions) {
    super();
    this.#options = options;
    this.primaries = typeof options.primary === 'string' ? parsePrimaries(options.primary) : options.primary;
    if (this.primaries.length === 0) throw new PiclusterError('ERR_CONFIG', 'no primary address given');
    this.dataDir = resolve(options.dataDir ?? DEFAULTS.dataDir);
    this.name = options.name ?? hostname();
    this.labels = options.labels ?? {};
    this.#log = options.logger ?? silentLogger;
    this.#backoff = new Backoff(options.reconnect);
  }

  get nodeId(): string {
    return this.#nodeId;
  }

  get state(): SecondaryState {
    return this.#state;
  }

  get outbox(): Outbox | undefined {
    return this.#outbox;
  }

  /** The live link to the primary, while online. */
  get connection(): Connection | undefined {
    return this.#state === 'online' ? this.#conn : undefined;
  }

  /** Registers a handler for requests the primary sends (kept across reconnects). */
  handle(type: string, handler: RequestHandler): this {
    this.#handlers.set(type, handler);
    this.#conn?.handle(type, handler);
    return this;
  }

  use(plugin: SecondaryPlugin): this {
    const teardown = plugin.setup(this);
    if (teardown) this.#teardowns.push(teardown);
    return this;
  }

  /** Asks the primary something: `query('nodes')`, `query('node', id)`, `query('primary')`. */
  query(what: 'primary' | 'nodes' | 'node', id?: string, options?: RequestOptions): Promise<unknown> {
    return this.request('query', id === undefined ? { what } : { what, id }, options);
  }

  /**
   * Every node the primary knows, in id order: `query('nodes')` page after page (a page is at
   * most 500 nodes and fits the primary's frame limit). A node joining meanwhile may be missed;
   * none is listed twice.
   */
  async listNodes(options?: RequestOptions): Promise<NodeView[]> {
    const nodes: NodeView[] = [];
    let after: string | undefined;
    do {
      const page = (await this.request(
        'query',
        after === undefined ? { what: 'nodes' } : { what: 'nodes', after },
        options,
      )) as {
        nodes: NodeView[];
        next?: string;
      };
      nodes.push(...page.nodes);
      after = page.next;
    } while (after !== undefined);
    return nodes;
  }

  /** Sends a request to the primary; rejects with DisconnectionError while offline. */
  request(type: string, payload: unknown = {}, options?: RequestOptions): Promise<unknown> {
    const conn = this.connection;
    if (!conn)
      return Promise.reject(new DisconnectionError('ERR_CLOSED', `not connected to a primary (${this.#state})`));
    return conn.request(type, payload, options);
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new PiclusterError('ERR_INTERNAL', `secondary already ${this.#state}`);
    const machineId = await (this.#options.machineId ?? (() => readMachineId()))();
    this.#machineId = machineId;
    const identity = loadNodeIdentity(this.dataDir, machineId);
    this.#nodeId = identity.nodeId;
    if (identity.createdBecause) this.#log.info({ nodeId: this.#nodeId }, `new node id (${identity.createdBecause})`);
    this.#secrets = new SecretStore(this.dataDir);
    this.#outbox = new Outbox(join(this.dataDir, 'outbox.jsonl'), {
      maxSamples: this.#options.outboxMaxSamples,
      logger: this.#log,
    });
    // /proc and /sys only: systeminformation would stay loaded for the agent's whole life (2.4 MB).
    this.#info = await (
      this.#options.machineInfo ??
      (() => readMachineInfo({ version: this.#version, useLibrary: false, logger: this.#log }))
    )();
    this.#vitals = this.#options.vitals ?? new VitalsReader({ dataDir: this.dataDir });
    this.#startSeq = this.#outbox.lastSeq;
    const periodMs = this.#options.vitalsPeriodMs ?? DEFAULTS.vitalsPeriodMs;
    this.#sampler = setInterval(() => void this.#takeSample(), periodMs);
    void this.#takeSample();
    this.#loop = this.#run();
  }

  /** Says goodbye (the node becomes `left`), flushes the outbox as far as it can, and stops. */
  async stop(reason = 'shutdown'): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return this.#loop;
    const conn = this.connection;
    this.#setState('stopping');
    clearInterval(this.#sampler);
    for (const teardown of this.#teardowns.splice(0)) teardown();
    if (conn) {
      await this.#waitForAcks(this.#options.stopTimeoutMs ?? 2_000);
      try {
        conn.send('bye', { reason });
      } catch (err) {
        this.#log.debug({ err }, 'link went down before bye');
      }
      await conn.close();
    }
    this.#abort.abort(new DisconnectionError('ERR_CLOSED', 'secondary stopped'));
    await this.#loop;
    this.#outbox?.close();
    this.#setState('stopped');
  }

  get #version(): string {
    return this.#options.version ?? '0.0.0';
  }

  #setState(state: SecondaryState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.emit('state', state);
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#abort.signal.aborted) {
      const target = this.primaries[attempt++ % this.primaries.length] as PrimaryAddress;
      let delayMs: number;
      try {
        this.#setState('connecting');
        await this.#session(target);
        delayMs = this.#backoff.next();
      } catch (err) {
        if (this.#abort.signal.aborted) break;
        delayMs = this.#onFailure(err, target);
      }
      if (this.#abort.signal.aborted) break;
      this.#setState('backoff');
      try {
        await sleep(delayMs, this.#abort.signal);
      } catch {
        break; // stopped while waiting
      }
    }
  }

  /** Logs a failure once per kind of failure, and picks the delay before the next attempt. */
  #onFailure(err: unknown, target: PrimaryAddress): number {
    const where = `${target.host}:${target.port}`;
    const summary = err instanceof PiclusterError ? `${err.code} ${err.message}` : String(err);
    const isNew = summary !== this.#lastFailure;
    this.#lastFailure = summary;
    if (err instanceof AuthError || (err instanceof PiclusterError && err.code === 'ERR_VERSION')) {
      if (isNew) this.#log.error({ primary: where, code: err.code }, `primary refused this node: ${err.message}`);
      this.emit('authFailed', err);
      // The primary no longer knows our secret: retry at once with the token, once. Any other
      // refusal (the token too) waits the maximum backoff, or a fleet would hammer the primary.
      if (err instanceof AuthError && err.usedSecret && this.#options.token) return 0;
      // The operator may fix the token: keep trying, at the slowest pace.
      return this.#backoff.options.maxDelayMs;
    }
    if (isNew) this.#log.warn({ primary: where, err: summary }, 'cannot reach the primary; retrying with backoff');
    return this.#backoff.next();
  }

  /** One life of the link: dial, open, hand-shake, serve until it drops. */
  async #session(target: PrimaryAddress): Promise<void> {
    const handshakeMs = this.#options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
    const socket = await dial({ ...target, timeoutMs: handshakeMs, signal: this.#abort.signal });
    socket.write(OPENING_MAGIC);
    const conn = new Connection(socket, {
      heartbeat: { intervalMs: this.#options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs },
      logger: this.#log,
    });
    this.#conn = conn;
    const gone = new Promise<DisconnectionError>((done) => conn.once('disconnect', done));
    const onAbort = () => conn.destroy('secondary stopped');
    this.#abort.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const secrets = this.#secrets as SecretStore;
      const result = await handshake(conn, {
        nodeId: this.#nodeId,
        name: this.name,
        labels: this.labels,
        version: this.#version,
        machineId: this.#machineId ?? '',
        token: this.#options.token,
        secretFor: (primaryId) => (this.#secretRejected ? undefined : secrets.get(primaryId, this.#nodeId)),
        timeoutMs: handshakeMs,
      }).catch((err: unknown) => {
        if (err instanceof AuthError && err.usedSecret) this.#secretRejected = true;
        conn.destroy('handshake failed');
        throw err;
      });
      if (result.nodeSecret) {
        try {
          secrets.set(result.primaryId, this.#nodeId, result.nodeSecret);
        } catch (err) {
          conn.destroy('cannot keep the node secret');
          throw err;
        }
        this.#secretRejected = false;
      }
      conn.setHeartbeatInterval(result.heartbeatMs);
      // The primary's frame limit, both ways: a larger message sent would cost the link, so it is
      // refused here with ERR_FRAME_TOO_LARGE (a reply becomes an error reply) and the link stays.
      conn.setMaxFrameBytes(Math.min(result.maxFrameBytes, DEFAULTS.maxFrameBytesCeiling));
      this.#serve(conn, result.lastSeq);
      this.#backoff.connected();
      this.#lastFailure = '';
      this.#setState('online');
      this.#log.info({ primary: `${target.host}:${target.port}`, nodeId: this.#nodeId }, 'online');
      this.emit('online', {
        nodeId: this.#nodeId,
        primaryId: result.primaryId,
        address: `${target.host}:${target.port}`,
      });
      const err = await gone;
      this.#backoff.disconnected();
      if (this.#abort.signal.aborted || this.#state === 'stopping') return;
      this.#log.warn({ code: err.code }, `lost the primary: ${err.message}`);
      this.emit('offline', err);
    } finally {
      this.#abort.signal.removeEventListener('abort', onAbort);
    }
  }

  #serve(conn: Connection, lastSeq: number): void {
    const outbox = this.#outbox as Outbox;
    for (const [type, handler] of this.#handlers) conn.handle(type, handler);
    conn.handle('query', (payload) => this.#answerQuery(payload));
    conn.on('message', (message) => {
      if (message.t === 'ack') {
        const { seq } = message.p as { seq: number };
        try {
          outbox.ack(seq);
        } catch (err) {
          // A full disk must not kill the agent: the sample stays in memory, acked or not.
          this.#log.error({ err }, 'cannot record an ack in the outbox');
        }
        if (seq > this.#ackedSeq) this.#ackedSeq = seq;
        // An ack past what this session sent (an older session's samples, stored late) moves both.
        if (seq > this.#sentSeq) this.#sentSeq = seq;
        this.emit('ack', seq);
        void this.#pump(conn);
      } else {
        this.emit('message', message, conn);
      }
    });
    if (!this.#welcomed) {
      // Samples taken since start, before any primary saw them, carry seqs from our own outbox;
      // if the primary already has those seqs (our outbox lost its tail, e.g. a power cut), they
      // are renumbered past its lastSeq instead of being dropped as duplicates.
      outbox.renumberUnsent(this.#startSeq, lastSeq);
      this.#welcomed = true;
    }
    outbox.ack(lastSeq);
    outbox.advanceTo(lastSeq);
    this.#sentSeq = lastSeq;
    this.#ackedSeq = lastSeq;
    if (this.#info) {
      try {
        conn.send('info', this.#info);
      } catch (err) {
        if (!isTooLarge(err)) throw err;
        this.#log.warn({ err }, "machine info is larger than the primary's frame limit: not sent");
      }
    }
    void this.#pump(conn);
  }

  /**
   * Sends one sample; false when the write queue is full (wait for 'drain'). A sample over the
   * primary's frame limit (a host with very many disks or interfaces, a small limit) goes without
   * its disk and network lists, or, if even that is too large, is skipped: one sample must not
   * stop every later one (the next stored seq acknowledges past it).
   */
  #sendVitals(conn: Connection, sample: VitalsPayload): boolean {
    try {
      return conn.send('vitals', sample);
    } catch (err) {
      if (!isTooLarge(err)) throw err;
      if (!this.#warnedLargeSample) {
        this.#warnedLargeSample = true;
        this.#log.warn(
          { err, seq: sample.seq, disks: sample.disks.length, nets: sample.nets.length },
          "a vitals sample is larger than the primary's frame limit: sent without its disks and networks (logged once)",
        );
      }
      try {
        return conn.send('vitals', { ...sample, disks: [], nets: [] });
      } catch (again) {
        if (!isTooLarge(again)) throw again;
        this.#log.warn(
          { seq: sample.seq },
          "a vitals sample is too large for the primary's frame limit even without its lists: skipped",
        );
        return true;
      }
    }
  }

  /**
   * Sends unsent outbox samples in seq order, at most `vitalsInFlight` ahead of the acks (the
   * next ack pumps again), waiting for 'drain' when the queue is full.
   */
  async #pump(conn: Connection): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        if (this.#conn !== conn || conn.state !== 'open') return;
        const room = DEFAULTS.vitalsInFlight - (this.#sentSeq - this.#ackedSeq);
        if (room <= 0) return;
        const next = (this.#outbox as Outbox).after(this.#sentSeq, room);
        if (next.length === 0) return;
        for (const sample of next) {
          if (!this.#sendVitals(conn, sample)) {
            await new Promise<void>((done) => {
              const finish = () => {
                conn.off('drain', finish);
                conn.off('disconnect', finish);
                done();
              };
              conn.once('drain', finish);
              conn.once('disconnect', finish);
            });
            break;
          }
          this.#sentSeq = sample.seq;
        }
      }
    } catch (err) {
      // The link dropped mid-send: the samples stay in the outbox for the next session.
      this.#log.debug({ err }, 'vitals pump stopped');
    } finally {
      this.#pumping = false;
    }
  }

  async #takeSample(): Promise<void> {
    let reading: Omit<VitalsPayload, 'seq'>;
    try {
      reading = await (this.#vitals as { read(): Promise<Omit<VitalsPayload, 'seq'>> }).read();
    } catch (err) {
      this.#log.warn({ err }, 'reading vitals failed');
      return;
    }
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    let sample: VitalsPayload;
    try {
      sample = (this.#outbox as Outbox).append(reading);
    } catch (err) {
      this.#log.error({ err }, 'cannot write the sample to the outbox (disk full?); sample lost');
      return;
    }
    this.emit('sample', sample);
    const conn = this.connection;
    if (conn) void this.#pump(conn);
  }

  async #waitForAcks(timeoutMs: number): Promise<void> {
    const outbox = this.#outbox as Outbox;
    const deadline = Date.now() + timeoutMs;
    while (outbox.size > 0 && Date.now() < deadline && this.#conn?.state === 'open') {
      await new Promise<void>((done) => {
        const onAck = () => {
          clearTimeout(timer);
          done();
        };
        const timer = setTimeout(
          () => {
            this.off('ack', onAck);
            done();
          },
          Math.min(50, deadline - Date.now()),
        );
        this.once('ack', onAck);
      });
    }
  }

  async #answerQuery(payload: unknown): Promise<unknown> {
    const { what } = payload as { what: string };
    if (what === 'vitals') return (this.#vitals as { read(): Promise<Omit<VitalsPayload, 'seq'>> }).read();
    if (what === 'info') return this.#info;
    throw new PiclusterError('ERR_BAD_REQUEST', `a secondary does not answer query "${what}"`);
  }
}

function isTooLarge(err: unknown): boolean {
  return err instanceof ProtocolError && err.code === 'ERR_FRAME_TOO_LARGE';
}
