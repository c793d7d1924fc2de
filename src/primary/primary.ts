// The primary: listens on the cluster port, reads each connection's opening and hands it to a
// native session (sessions.ts) or a legacy one (legacy-nodes.ts); keeps the registry, runs the
// store it is given (a factory: SQLite by default), and owns every node state change. Vitals go
// through the VitalsIngest (shown at receipt, stored, then acknowledged). A node's link dying
// never reaches further than its own session.

import { EventEmitter } from 'node:events';
import { join, resolve } from 'node:path';
import { type AlertService, openAlertService } from '../alerts/alert-service.js';
import { DEFAULTS } from '../common/defaults.js';
import { LogLimiter } from '../common/log-limiter.js';
import { type Logger, silentLogger } from '../common/logger.js';
import type { RequestOptions } from '../connection/connection-options.js';
import { DataDirLock } from '../node/data-dir-lock.js';
import { makePrivateDir } from '../node/private-files.js';
import { checkedToken } from '../protocol/auth.js';
import { DisconnectionError, PiclusterError, RequestError } from '../protocol/errors.js';
import { type LabelSelector, parseSelector } from '../protocol/label-selector.js';
import { loadSchemaIssues } from '../protocol/schema-issue.js';
import { HistoryUpkeep } from '../store/history-upkeep.js';
import { NodeWriter } from '../store/node-writer.js';
import type { Store, StoreReader } from '../store/store-api.js';
import { AddressRanges } from './address-ranges.js';
import { AuditTrail } from './audit-trail.js';
import { reportClockSkew } from './clock-skew.js';
import { ClusterListener } from './cluster-listener.js';
import type { ClusterEvents, ClusterView } from './cluster-view.js';
import { loadOrCreatePrimaryId, loadOrCreateToken, warnLoosePrimaryFiles } from './credentials.js';
import { type DiskSpace, type DiskWatch, watchDataDir } from './disk-watch.js';
import { FlushedHistory } from './flushed-history.js';
import { InfluxSink, type InfluxSinkStats } from './influx-sink.js';
import { JoinCodes } from './join-codes.js';
import { LEGACY_MAX_MESSAGE_BYTES, LegacyNodes, readLegacyBaseInfo } from './legacy-nodes.js';
import { type ClusterAdmin, NodeAdmin } from './node-admin.js';
import { type NodeHost, newPrimaryStats, type PrimaryStats } from './node-host.js';
import { applyNodeState } from './node-state.js';
import { PeerGuard } from './peer-guard.js';
import { type PrimaryOptions, type ResolvedOptions, resolveOptions } from './primary-options.js';
import { openPrimaryStore } from './primary-store.js';
import { type NodeRecord, type NodeView, Registry, toView } from './registry.js';
import { NativeSessions } from './sessions.js';
import type { TaskScheduler } from './task-scheduler.js';
import { openTaskService, type TaskService } from './task-service.js';
import { clusterTlsOf } from './tls-identity.js';
import { VitalsIngest } from './vitals-ingest.js';

export type { PrimaryOptions, PrimaryStats };

export type PrimaryState = 'idle' | 'starting' | 'listening' | 'stopping' | 'stopped';

export interface PrimaryEvents extends ClusterEvents {
  /** The primary's own state changed. */
  state: [state: PrimaryState];
  listening: [port: number];
}

export class Primary extends EventEmitter<PrimaryEvents> implements ClusterView {
  readonly dataDir: string;
  readonly registry = new Registry();
  readonly stats: PrimaryStats = newPrimaryStats();
  /** Short-lived codes a new node may join with instead of the cluster token. */
  readonly joinCodes = new JoinCodes();
  readonly #options: ResolvedOptions;
  readonly #given: Pick<
    PrimaryOptions,
    'token' | 'tokenFile' | 'retention' | 'influx' | 'store' | 'diskWarn' | 'tls' | 'alerts' | 'leader'
  >;
  readonly #log: Logger;
  #state: PrimaryState = 'idle';
  #listener: ClusterListener | undefined;
  #tlsFingerprint: string | undefined;
  #tlsCredentials: { cert: string; key: string } | undefined;
  #lock: DataDirLock | undefined;
  #store: Store | undefined;
  #upkeep: HistoryUpkeep | undefined;
  #disk: DiskWatch | undefined;
  #influx: InfluxSink | undefined;
  /** Node rows and events, in batches (see NodeWriter). */
  #nodeWriter: NodeWriter | undefined;
  #ingest: VitalsIngest | undefined;
  #history: FlushedHistory | undefined;
  #token = '';
  #primaryId = '';
  #legacy: LegacyNodes | undefined;
  #native: NativeSessions | undefined;
  #admin: NodeAdmin | undefined;
  #tasks: TaskScheduler | undefined;
  #taskService: TaskService | undefined;
  #alerts: AlertService | undefined;
  readonly #legacyAllow: AddressRanges;
  #audit: AuditTrail | undefined;
  readonly #fleetQueries: LabelSelector;

  constructor(options: PrimaryOptions = {}) {
    super();
    this.dataDir = resolve(options.dataDir ?? DEFAULTS.dataDir);
    this.#given = {
      token: options.token,
      tokenFile: options.tokenFile,
      retention: options.retention,
      influx: options.influx,
      store: options.store,
      diskWarn: options.diskWarn,
      tls: options.tls,
      alerts: options.alerts,
      leader: options.leader,
    };
    this.#log = options.logger ?? silentLogger;
    this.#options = resolveOptions(options);
    this.#fleetQueries = parseSelector(this.#options.fleetQueries);
    this.#legacyAllow = new AddressRanges(this.#options.legacyAllow, 'legacyAllow');
  }

  get state(): PrimaryState {
    return this.#state;
  }

  get primaryId(): string {
    return this.#primaryId;
  }

  /** The fingerprint of the cluster port's certificate (`sha256:…`), after start; undefined with TLS off. */
  get tlsFingerprint(): string | undefined {
    return this.#tlsFingerprint;
  }

  /** The cluster port's certificate and key (PEM), for HTTPS on the web port; undefined with TLS off. */
  get tlsCredentials(): { cert: string; key: string } | undefined {
    return this.#tlsCredentials;
  }

  /** The cluster token (for wiring a local secondary; never log it). */
  get token(): string {
    return this.#token;
  }

  /** Where the cluster token is read from (and rewritten by a rotation). */
  get tokenFile(): string {
    return this.#given.tokenFile ?? join(this.dataDir, 'token');
  }

  /** The operator's acts: approve, deny, revoke, forget nodes; rotate the token (after start). */
  get admin(): ClusterAdmin {
    if (!this.#admin) throw new PiclusterError('ERR_INTERNAL', 'primary not started');
    return this.#admin;
  }

  /** The port actually listened on (after start). */
  get port(): number {
    return this.#listener?.port ?? this.#options.port;
  }

  /** Written, dropped, failed and buffered lines of the InfluxDB sink, when there is one. */
  get influxStats(): Readonly<InfluxSinkStats> | undefined {
    return this.#influx?.stats;
  }

  /** Commits, samples and the last commit's duration of the vitals writer (for /metrics). */
  get writerStats(): ClusterView['writerStats'] {
    return this.#ingest?.writerStats;
  }

  /** The node writer's counters and the node changes it holds for a locked store (for /metrics). */
  get nodeWriterStats(): ClusterView['nodeWriterStats'] {
    const writer = this.#nodeWriter;
    return writer && { ...writer.stats, held: writer.held };
  }

  /** The store this primary runs on (after start). */
  get store(): Store {
    if (!this.#store) throw new PiclusterError('ERR_INTERNAL', 'primary not started');
    return this.#store;
  }

  /** Free and total bytes of the data dir's disk, at the last reading. */
  get disk(): DiskSpace | undefined {
    return this.#disk?.space;
  }

  /** Alerts: open ones, history, rules, silences, channels (after start). */
  get alerts(): AlertService | undefined {
    return this.#alerts;
  }

  /** Tasks: submit, list, cancel (after start). */
  get tasks(): TaskScheduler {
    if (!this.#tasks) throw new PiclusterError('ERR_INTERNAL', 'primary not started');
    return this.#tasks;
  }

  /** Task schedules: list, create, remove (after start). */
  get schedules() {
    return this.#taskService?.schedules;
  }

  /** History and the events log, read-only (what the web reads), with samples in the commit window. */
  get history(): StoreReader {
    if (!this.#history) throw new PiclusterError('ERR_INTERNAL', 'primary not started');
    return this.#history;
  }

  /** True once the listener and the store are up (what /healthz reports). */
  get ready(): boolean {
    return this.#state === 'listening';
  }

  get nodeCount(): number {
    return this.registry.size;
  }

  get onlineCount(): number {
    return this.registry.onlineCount;
  }

  nodes(): NodeView[] {
    return this.registry.views();
  }

  node(id: string): NodeView | undefined {
    const record = this.registry.get(id);
    return record && toView(record);
  }

  nodeRecords(): Iterable<Readonly<NodeView>> {
    return this.registry.all();
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new PiclusterError('ERR_INTERNAL', `primary already ${this.#state}`);
    this.#setState('starting');
    makePrivateDir(this.dataDir);
    // One process per data dir: a second primary would fight the first for its database.
    this.#lock = await DataDirLock.acquire(this.dataDir, 'primary');
    try {
      await this.#open();
    } catch (err) {
      // Nothing half-open stays behind: the alerts, the store, the lock; the object is spent.
      await this.#alerts?.close(0).catch(() => undefined);
      await this.#store?.close().catch(() => undefined);
      await this.#listener?.close();
      await this.#lock.release();
      this.#setState('stopped');
      throw err;
    }
    this.#setState('listening');
    const fingerprint = this.#tlsFingerprint;
    this.#log.info(
      { port: this.port, bind: this.#options.bind, dataDir: this.dataDir, tls: fingerprint ?? false },
      `primary listening; join a node with: picluster secondary --primary <this host>:${this.port} --token-file <a copy of ${this.tokenFile}>${fingerprint ? ` --primary-fingerprint ${fingerprint}` : ' --no-tls'}`,
    );
    this.emit('listening', this.port);
  }

  /** Everything start() opens after the lock: credentials, store, writers, sessions, the listener. */
  async #open(): Promise<void> {
    this.#primaryId = loadOrCreatePrimaryId(this.dataDir);
    loadSchemaIssues();
    this.#token =
      this.#given.token === undefined
        ? loadOrCreateToken(this.tokenFile, this.#log)
        : checkedToken(this.#given.token, 'the token given');
    // A single primary refused by its shared store for good stops (state 'stopped'), once started.
    const stop = () => void this.stop().catch((err) => this.#log.error({ err }, 'cannot stop'));
    const fenced = () => (this.#state === 'starting' ? this.once('listening', stop) : stop());
    const { store, nodes } = await openPrimaryStore(this.#given, this.dataDir, this.#log, fenced);
    this.#store = store;
    const leader = this.#given.leader;
    warnLoosePrimaryFiles(this.dataDir, this.tokenFile, this.#log);
    this.registry.load(nodes);
    this.#nodeWriter = new NodeWriter(store, { logger: this.#log });
    if (this.#given.influx) this.#influx = new InfluxSink({ ...this.#given.influx, logger: this.#log });
    this.#ingest = new VitalsIngest({
      store,
      registry: this.registry,
      stats: this.stats,
      logger: this.#log,
      influx: this.#influx,
      commitMs: this.#options.vitalsCommitMs,
      onLatest: (nodeId, vitals) => this.emit('vitals', nodeId, vitals),
      clockSkewThresholdMs: this.#options.clockSkewThresholdMs,
      onClockSkew: (record, skewed) =>
        reportClockSkew(record, skewed, {
          post: (changes) => this.#nodeWriter?.post(changes),
          log: this.#log,
          emitNode: (view) => this.emit('node', view),
        }),
      // Written when the store takes writes again (the node writer holds it meanwhile), with its time.
      onStoreFull: (full) => this.#event(full ? 'store-full' : 'store-writable', {}),
    });
    const ingest = this.#ingest;
    this.#history = new FlushedHistory(store, (id) => ingest.flushNode(id));
    const nodeWriter = this.#nodeWriter;
    const audit = new AuditTrail({ post: (changes) => nodeWriter.post(changes) });
    this.#audit = audit;
    const { limits } = this.#options;
    const peers = new PeerGuard({
      maxHandshakesPerAddress: limits.maxHandshakesPerAddress,
      authFailuresPerMinute: limits.authFailuresPerMinute,
      stats: this.stats,
    });
    const limitedLog = new LogLimiter(this.#log, { onSuppressed: () => this.stats.logLinesSuppressed++ });
    this.#taskService = await openTaskService({
      store,
      registry: this.registry,
      log: this.#log,
      options: this.#options,
      leader,
      notBack: (nodeId) => {
        const record = this.registry.get(nodeId);
        if (record?.state === 'rebooting') this.#setNodeState(record, 'lost', { code: 'ERR_NOT_BACK' });
      },
    });
    const tasks = this.#taskService.scheduler;
    tasks.on('task', (task) => this.emit('task', task));
    tasks.on('output', (output) => this.emit('task-output', output));
    this.#tasks = tasks;
    const host: NodeHost = {
      leader,
      registry: this.registry,
      log: this.#log,
      peers,
      limitedLog,
      limits,
      stats: this.stats,
      primary: { id: this.#primaryId, version: this.#options.version, maxFrameBytes: this.#options.maxFrameBytes },
      ingest: this.#ingest,
      storeNode: (changes) => nodeWriter.post(changes),
      storeNodeNow: (changes) => nodeWriter.write(changes),
      nodeSecret: (id) => store.nodeSecret(id),
      audit,
      storedLastSeq: async (id) => (await store.latestVitals(id))?.seq ?? 0,
      fleetQueries: this.#fleetQueries,
      setState: (record, state, data) => this.#setNodeState(record, state, data),
      emitNode: (view) => this.emit('node', view),
      sessionReady: (record) => tasks.nodeReady(record),
      tasks,
      joinCodes: this.joinCodes,
    };
    this.#native = new NativeSessions({
      host,
      token: this.#token,
      heartbeatIntervalMs: this.#options.heartbeatIntervalMs,
      admission: this.#options.admission,
    });
    if (this.#options.legacy) {
      this.#legacy = new LegacyNodes({
        host,
        // A legacy message is a few hundred bytes: an unauthenticated peer buffers no more than this.
        maxMessageBytes: Math.min(this.#options.maxFrameBytes, LEGACY_MAX_MESSAGE_BYTES),
        silenceMs: this.#options.legacySilenceMs,
        baseInfo: await readLegacyBaseInfo(this.#options.version, this.#log),
        allow: this.#legacyAllow,
        maxConnections: this.#options.legacyMaxConnections,
        maxNodes: this.#options.legacyMaxNodes,
        idleMs: this.#options.legacyIdleMs,
      });
    }
    const native = this.#native;
    const legacy = this.#legacy;
    this.#admin = new NodeAdmin({
      joinCodes: this.joinCodes,
      registry: this.registry,
      log: this.#log,
      flushVitals: (id) => ingest.flushNode(id),
      storeNow: (changes) => nodeWriter.write(changes),
      emitNode: (view) => this.emit('node', view),
      setState: (record, state, data) => this.#setNodeState(record, state, data),
      emitRemoved: (id) => {
        tasks.nodeGone({ id, name: id }, 'was forgotten');
        this.emit('removed', id);
      },
      closeLegacy: (id, reason) => legacy?.closeNode(id, reason),
      // A token given as a value has no file to rewrite.
      tokenFile: this.#given.token === undefined ? this.tokenFile : undefined,
      audit,
      post: (changes) => nodeWriter.post(changes),
      setToken: (token) => {
        this.#token = token;
        native.token = token;
      },
    });
    const tls = await clusterTlsOf(this.dataDir, this.#given.tls, this.#primaryId, this.#log);
    this.#tlsFingerprint = tls?.fingerprint;
    this.#tlsCredentials = tls && { cert: tls.listener.cert, key: tls.listener.key };
    this.#listener = new ClusterListener({
      port: this.#options.port,
      bind: this.#options.bind,
      handshakeTimeoutMs: this.#options.handshakeTimeoutMs,
      maxConnections: this.#options.maxConnections,
      maxHandshakes: this.#options.maxHandshakes,
      tls: tls?.listener,
      native: (socket, head, ms, release) => native.accept(socket, head, ms, release),
      legacy: legacy && ((socket, head, ms, release) => legacy.accept(socket, head, ms, release)),
      stats: this.stats,
      audit,
      peers,
      logger: this.#log,
      limitedLog,
    });
    // Before the first node can arrive: the alerts see every event from here.
    const { alerts: config } = this.#given;
    this.#alerts = await openAlertService({ source: this, store, log: this.#log, config, mayAct: leader?.mayAct });
    this.#alerts?.on('alert', (alert) => this.emit('alert', alert));
    await this.#listener.listen();
    this.#upkeep = new HistoryUpkeep(store, this.#log);
    this.#upkeep.start(this.#options.pruneIntervalMs);
    this.#disk = watchDataDir(this.dataDir, this.#given.diskWarn, this.#log, (type, space) =>
      this.#event(type, { ...space }),
    );
    await this.#disk.start();
    this.#influx?.start();
    tasks.start();
    this.#taskService.schedules.start();
  }

  /** Closes every session (nodes become lost, not left), flushes storage, closes the store. */
  async stop(): Promise<void> {
    if (this.#state !== 'listening' && this.#state !== 'starting') return;
    this.#setState('stopping');
    // First: the links closing now are no outage.
    this.#alerts?.stop();
    this.#upkeep?.stop();
    this.#disk?.stop();
    this.#tasks?.stop();
    this.#taskService?.schedules.stop();
    const closed = this.#listener?.close();
    const sessions = [...this.registry.all()].flatMap((r) => (r.session ? [r.session] : []));
    await Promise.all(sessions.map((s) => s.close()));
    this.#legacy?.closeAll();
    this.#listener?.destroyAll();
    await closed;
    await this.#ingest?.close();
    this.#audit?.flush();
    await this.#nodeWriter?.close();
    await this.#taskService?.close();
    await this.#alerts?.close();
    await this.#influx?.stop();
    await this.#store?.close();
    await this.#lock?.release();
    this.#setState('stopped');
    this.#log.info({}, 'primary stopped');
  }

  /** Sends a request to an online node. */
  request(nodeId: string, type: string, payload: unknown = {}, options?: RequestOptions): Promise<unknown> {
    const record = this.registry.get(nodeId);
    if (record?.legacy) return Promise.reject(new RequestError('ERR_BAD_REQUEST', `${nodeId} is a legacy node`));
    const session = record?.session;
    if (!session) {
      return Promise.reject(new DisconnectionError('ERR_CLOSED', `node ${nodeId} is not connected`));
    }
    return session.request(type, payload, options);
  }

  /** The one place the primary's own state changes. */
  #setState(state: PrimaryState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#log.debug({ state }, 'primary state');
    this.emit('state', state);
  }

  /** An event of the primary itself (no node), in the events log. */
  #event(type: string, data: Record<string, unknown>): void {
    this.#nodeWriter?.post([{ op: 'event', ts: Date.now(), nodeId: null, type, data }]);
  }

  #setNodeState(record: NodeRecord, given: NodeRecord['state'], data: Record<string, unknown>): void {
    const writer = this.#nodeWriter;
    applyNodeState(record, given, data, {
      tasks: this.#tasks,
      post: this.#state === 'stopped' || !writer ? undefined : (changes) => writer.post(changes),
      log: this.#log,
      emitNode: (view) => this.emit('node', view),
    });
  }
}
