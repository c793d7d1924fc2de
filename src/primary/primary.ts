// The primary: listens on the cluster port, reads each connection's opening and hands it to a
// native session (sessions.ts) or a legacy one (legacy-session.ts); keeps the registry and the
// store, acknowledges vitals once committed, and owns every node state change. A node's link
// dying never reaches further than its own session.

import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { DEFAULTS } from '../common/defaults.js';
import { type Logger, silentLogger } from '../common/logger.js';
import type { RequestOptions } from '../connection/connection.js';
import { DisconnectionError, PiclusterError } from '../protocol/errors.js';
import type { VitalsPayload } from '../protocol/messages.js';
import { HistoryUpkeep } from '../store/history-upkeep.js';
import { NodeWriter } from '../store/node-writer.js';
import type { StoredSample } from '../store/store.js';
import { Store } from '../store/store.js';
import type { Retention } from '../store/vitals-history.js';
import { VitalsWriter } from '../store/vitals-writer.js';
import { loadOrCreatePrimaryId, loadOrCreateToken } from './credentials.js';
import { InfluxSink, type InfluxSinkOptions, type InfluxSinkStats } from './influx-sink.js';
import { DEFAULT_LEGACY_SILENCE_MS, LegacyNodes, readLegacyBaseInfo } from './legacy-session.js';
import type { NodeHost, PrimaryStats } from './node-host.js';
import { readOpening } from './opening.js';
import type { PrimaryOptions } from './primary-options.js';
import { type NodeRecord, type NodeView, Registry, toView } from './registry.js';
import { NativeSessions } from './sessions.js';

export type { PrimaryOptions, PrimaryStats };

export type PrimaryState = 'idle' | 'starting' | 'listening' | 'stopping' | 'stopped';

export interface PrimaryEvents {
  /** A node's record changed state (joined, lost, left). */
  node: [node: NodeView];
  /** A sample was committed and acknowledged. */
  vitals: [nodeId: string, sample: VitalsPayload];
  listening: [port: number];
}

export class Primary extends EventEmitter<PrimaryEvents> {
  readonly dataDir: string;
  readonly registry = new Registry();
  readonly stats: PrimaryStats = {
    accepted: 0,
    rejectedOpenings: 0,
    handshakeFailures: 0,
    authFailures: 0,
    reconnects: 0,
    framesIn: 0,
    duplicates: 0,
  };
  readonly #options: Required<Omit<PrimaryOptions, 'token' | 'logger' | 'dataDir' | 'retention' | 'influx'>>;
  readonly #retention: Partial<Retention> | undefined;
  readonly #influxOptions: Omit<InfluxSinkOptions, 'logger'> | undefined;
  #upkeep: HistoryUpkeep | undefined;
  #influx: InfluxSink | undefined;
  /** Node rows and events, in batches (see NodeWriter). */
  #nodeWriter: NodeWriter | undefined;
  readonly #log: Logger;
  #state: PrimaryState = 'idle';
  #server: net.Server | undefined;
  #store: Store | undefined;
  #writer: VitalsWriter | undefined;
  #token = '';
  #primaryId = '';
  #handshakes = 0;
  #legacy: LegacyNodes | undefined;
  #native: NativeSessions | undefined;
  readonly #sockets = new Set<net.Socket>();
  readonly #tokenGiven: string | undefined;
  #unknownOpeningLogged = 0;

  constructor(options: PrimaryOptions = {}) {
    super();
    this.dataDir = resolve(options.dataDir ?? DEFAULTS.dataDir);
    this.#tokenGiven = options.token;
    this.#log = options.logger ?? silentLogger;
    this.#options = {
      port: options.port ?? DEFAULTS.port,
      bind: options.bind ?? DEFAULTS.bind,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULTS.maxFrameBytes,
      maxConnections: options.maxConnections ?? DEFAULTS.maxConnections,
      maxHandshakes: options.maxHandshakes ?? DEFAULTS.maxHandshakes,
      legacy: options.legacy ?? false,
      legacySilenceMs: options.legacySilenceMs ?? DEFAULT_LEGACY_SILENCE_MS,
      version: options.version ?? '0.0.0',
      pruneIntervalMs: options.pruneIntervalMs ?? 30_000,
    };
    const { maxFrameBytes } = this.#options;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1024 || maxFrameBytes > DEFAULTS.maxFrameBytesCeiling) {
      throw new PiclusterError(
        'ERR_CONFIG',
        `maxFrameBytes must be an integer from 1024 to ${DEFAULTS.maxFrameBytesCeiling}, got ${maxFrameBytes}`,
      );
    }
    this.#retention = options.retention;
    this.#influxOptions = options.influx;
  }

  get state(): PrimaryState {
    return this.#state;
  }

  get primaryId(): string {
    return this.#primaryId;
  }

  /** The cluster token (for wiring a local secondary; never log it). */
  get token(): string {
    return this.#token;
  }

  get tokenFile(): string {
    return join(this.dataDir, 'token');
  }

  /** The port actually listened on (after start). */
  get port(): number {
    return (this.#server?.address() as net.AddressInfo | null)?.port ?? this.#options.port;
  }

  /** Written, dropped, failed and buffered lines of the InfluxDB sink, when there is one. */
  get influxStats(): Readonly<InfluxSinkStats> | undefined {
    return this.#influx?.stats;
  }

  /** Commits, samples and the last commit's duration of the vitals writer (for /metrics). */
  get writerStats(): Readonly<VitalsWriter['stats']> | undefined {
    return this.#writer?.stats;
  }

  /** The node writer's counters and the node changes it holds for a locked database (for /metrics). */
  get nodeWriterStats(): (Readonly<NodeWriter['stats']> & { held: number }) | undefined {
    const writer = this.#nodeWriter;
    return writer && { ...writer.stats, held: writer.held };
  }

  get store(): Store {
    if (!this.#store) throw new PiclusterError('ERR_INTERNAL', 'primary not started');
    return this.#store;
  }

  /** True once the listener and the store are up (what /healthz reports). */
  get ready(): boolean {
    return this.#state === 'listening';
  }

  nodes(): NodeView[] {
    return this.registry.views();
  }

  node(id: string): NodeView | undefined {
    const record = this.registry.get(id);
    return record && toView(record);
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new PiclusterError('ERR_INTERNAL', `primary already ${this.#state}`);
    this.#state = 'starting';
    mkdirSync(this.dataDir, { recursive: true });
    this.#primaryId = loadOrCreatePrimaryId(this.dataDir);
    this.#token = this.#tokenGiven ?? loadOrCreateToken(this.tokenFile, this.#options.port, this.#log);
    const store = new Store(join(this.dataDir, 'primary.db'), { retention: this.#retention });
    this.#store = store;
    const markedLost = store.markOnlineNodesLost();
    this.registry.load(store.allNodes(), (id) => store.latestVitals(id));
    if (markedLost > 0)
      this.#log.info({ nodes: markedLost }, 'nodes online at the last stop are lost until they reconnect');
    this.#nodeWriter = new NodeWriter(store, { logger: this.#log });
    this.#writer = new VitalsWriter(store, {
      logger: this.#log,
      onStored: (stored, batch) => this.#acknowledge(stored, batch),
      onFailed: (nodeIds) => {
        // Their samples stay in the nodes' outboxes: a fresh session resends them.
        for (const id of nodeIds) this.registry.get(id)?.session?.destroy('storing vitals failed');
      },
    });
    const host: NodeHost = {
      registry: this.registry,
      log: this.#log,
      stats: this.stats,
      addVitals: (id, sample, at) => this.#writer?.add(id, sample, at),
      storeNode: (apply) => this.#nodeWriter?.post(apply),
      storeNodeNow: (apply) => (this.#nodeWriter as NodeWriter).write(apply),
      setState: (record, state, data) => this.#setState(record, state, data),
      emitNode: (view) => this.emit('node', view),
    };
    this.#native = new NativeSessions({
      host,
      primaryId: this.#primaryId,
      token: this.#token,
      version: this.#options.version,
      heartbeatIntervalMs: this.#options.heartbeatIntervalMs,
      maxFrameBytes: this.#options.maxFrameBytes,
      secretOf: (id) => this.#store?.getNodeSecret(id),
    });
    if (this.#options.legacy) {
      this.#legacy = new LegacyNodes({
        host,
        maxMessageBytes: this.#options.maxFrameBytes,
        silenceMs: this.#options.legacySilenceMs,
        baseInfo: await readLegacyBaseInfo(this.#options.version, this.#log),
      });
    }
    const server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.#onSocket(socket));
    server.maxConnections = this.#options.maxConnections;
    this.#server = server;
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      // A backlog of 4,096: 10,000 nodes joining at once overflowed Node's default 511.
      server.listen({ port: this.#options.port, host: this.#options.bind, backlog: 4096 }, () => {
        server.off('error', reject);
        resolveListen();
      });
    });
    server.on('error', (err) => this.#log.error({ err }, 'cluster listener error'));
    this.#upkeep = new HistoryUpkeep(store, this.#log);
    this.#upkeep.start(this.#options.pruneIntervalMs);
    if (this.#influxOptions) {
      this.#influx = new InfluxSink({ ...this.#influxOptions, logger: this.#log });
      this.#influx.start();
    }
    this.#state = 'listening';
    this.#log.info({ port: this.port, bind: this.#options.bind, dataDir: this.dataDir }, 'primary listening');
    this.emit('listening', this.port);
  }

  /** Closes every session (nodes become lost, not left), flushes storage, closes the store. */
  async stop(): Promise<void> {
    if (this.#state !== 'listening' && this.#state !== 'starting') return;
    this.#state = 'stopping';
    this.#upkeep?.stop();
    const closed = new Promise<void>((done) => (this.#server ? this.#server.close(() => done()) : done()));
    const sessions = [...this.registry.all()].flatMap((r) => (r.session ? [r.session] : []));
    await Promise.all(sessions.map((s) => s.close()));
    this.#legacy?.closeAll();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
    this.#writer?.close();
    this.#nodeWriter?.close();
    await this.#influx?.stop();
    this.#store?.close();
    this.#state = 'stopped';
    this.#log.info({}, 'primary stopped');
  }

  /** Sends a request to an online node. */
  request(nodeId: string, type: string, payload: unknown = {}, options?: RequestOptions): Promise<unknown> {
    const record = this.registry.get(nodeId);
    if (record?.legacy) return Promise.reject(new PiclusterError('ERR_BAD_REQUEST', `${nodeId} is a legacy node`));
    const session = record?.session;
    if (!session) {
      return Promise.reject(new DisconnectionError('ERR_CLOSED', `node ${nodeId} is not connected`));
    }
    return session.request(type, payload, options);
  }

  async #onSocket(socket: net.Socket): Promise<void> {
    this.stats.accepted++;
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // Until a Connection owns it, socket errors only mean "gone".
    socket.on('error', () => socket.destroy());
    if (this.#handshakes >= this.#options.maxHandshakes || this.#state !== 'listening') {
      socket.destroy();
      return;
    }
    this.#handshakes++;
    const startedAt = Date.now();
    let released = false;
    const release = () => {
      if (!released) this.#handshakes--;
      released = true;
    };
    try {
      const opening = await readOpening(socket, this.#options.handshakeTimeoutMs);
      const remainingMs = Math.max(1, this.#options.handshakeTimeoutMs - (Date.now() - startedAt));
      if (opening.kind === 'legacy' && this.#legacy) {
        this.#legacy.accept(socket, opening.rest, remainingMs, release);
      } else if (opening.kind !== 'native') {
        release();
        this.#rejectOpening(socket, opening.kind);
      } else {
        this.#native?.accept(socket, opening.rest, remainingMs, release);
      }
    } catch (err) {
      release();
      this.#log.warn({ err }, 'connection setup failed');
      socket.destroy();
    }
  }

  #rejectOpening(socket: net.Socket, kind: string): void {
    this.stats.rejectedOpenings++;
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    if (kind === 'legacy') {
      this.#log.warn(
        { peer },
        'a node of the original protocol connected; legacy support is off (start with --legacy)',
      );
    } else if (kind !== 'closed' && this.#unknownOpeningLogged++ === 0) {
      const why =
        kind === 'timeout'
          ? `sent no opening within the handshake timeout (${this.#options.handshakeTimeoutMs} ms)`
          : 'did not open with the picluster magic';
      this.#log.warn({ peer, kind }, `closed a connection that ${why} (logged once)`);
    }
    socket.destroy();
  }

  /** After a commit: remember the new seqs and latest samples, acknowledge to live sessions. */
  #acknowledge(stored: Map<string, number>, batch: readonly StoredSample[]): void {
    for (const { nodeId, sample, receivedAt } of batch) {
      const record = this.registry.get(nodeId);
      if (!record) continue;
      if (sample.seq >= (record.vitals?.seq ?? 0)) record.vitals = { ...sample, receivedAt };
      this.#influx?.write({ id: nodeId, name: record.name }, { ...sample, receivedAt });
    }
    for (const [nodeId, seq] of stored) {
      const record = this.registry.get(nodeId);
      if (!record) continue;
      if (seq > record.lastSeq) record.lastSeq = seq;
      if (record.session?.state === 'open') record.session.send('ack', { seq: record.lastSeq });
      if (record.vitals) this.emit('vitals', nodeId, record.vitals);
    }
  }

  #setState(record: NodeRecord, state: NodeRecord['state'], data: Record<string, unknown>): void {
    const now = Date.now();
    record.state = state;
    // lastSeen is when the node was last heard from: a lost node was not heard now.
    if (state !== 'lost') record.lastSeen = now;
    record.connectedSince = state === 'online' ? record.connectedSince : null;
    if (this.#state !== 'stopped') {
      // Batched: thousands of nodes going lost at once are a few transactions, not thousands. A
      // failure (full disk, a lock) is logged by the writer; the registry stays right and the
      // store catches up at the node's next change (and at start).
      const { id, lastSeen, connectedSince, lastSeq } = record;
      this.#nodeWriter?.post((store) => {
        store.setNodeState(id, state, lastSeen, connectedSince, lastSeq);
        store.addEvent(now, id, state, data);
      });
    }
    if (state === 'left') this.#log.info({ nodeId: record.id, name: record.name }, 'node left');
    this.emit('node', toView(record));
  }
}
