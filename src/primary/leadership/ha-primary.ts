// A primary among standbys (issue 17): it campaigns through etcd (LeaderElection) and, while it may
// act as the leader, runs one term: a whole Primary on the shared store, started with the term's
// epoch and fence (the store refuses writes of an older epoch; tasks carry the epoch; nothing is
// admitted or sent once the fence is down). Otherwise it is a standby: its cluster port answers
// every handshake with ERR_NOT_LEADER naming the leader (StandbySessions), and its web shows who
// leads. A term ends when the fence goes down (lease lost, no quorum, paused past the lease): the
// Primary is stopped, and this process stands by again. The web holds this object for its whole
// life: it reads the current term through the ClusterView below, and its events are forwarded.

import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { DEFAULTS } from '../../common/defaults.js';
import { type Logger, silentLogger } from '../../common/logger.js';
import { ConfigError, NotLeaderError } from '../../protocol/errors.js';
import { isStoreFenced, type Store, type StoreFactory, type StoreReader } from '../../store/store-api.js';
import { watchRejections } from '../../store/watch-store.js';
import type { ClusterView, LeadershipView } from '../cluster-view.js';
import { loadOrCreatePrimaryId } from '../credentials.js';
import { newPrimaryStats } from '../node-host.js';
import { Primary, type PrimaryEvents, type PrimaryOptions } from '../primary.js';
import { clusterTlsOf } from '../tls-identity.js';
import { LeaderElection } from './leader-election.js';
import { openStandbyPort, type StandbyPort } from './standby-sessions.js';

export interface HaOptions {
  /** etcd client URLs (config `ha.etcd`). */
  etcd: string[];
  /** Lease TTL, ms (whole seconds). Default 5000. */
  ttlMs?: number;
  /** The cluster address secondaries dial to reach this primary (`host:port`). Default: the bind address (or the host name) and the port. */
  advertise?: string;
  /** This primary's name in the election (shown as the leader). Default: the host name. */
  name?: string;
  /** Names the election (several clusters on one etcd). Default "picluster". */
  clusterId?: string;
}

const FORWARDED = ['node', 'vitals', 'removed', 'task', 'task-output', 'alert'] as const;

/** How long a primary whose term could not start stays out of the election. */
const RETRY_AFTER_FAILED_TERM_MS = 5_000;

export class HaPrimary extends EventEmitter<PrimaryEvents> implements ClusterView {
  readonly dataDir: string;
  readonly #options: PrimaryOptions & { ha: HaOptions };
  readonly #log: Logger;
  #election: LeaderElection;
  readonly #standbyStats = newPrimaryStats();
  #term: Primary | undefined;
  #termEpoch = 0;
  #standby: StandbyPort | undefined;
  #transition: Promise<void> = Promise.resolve();
  #stopped = false;
  #primaryId = '';
  /** The cluster port, fixed at the first listen (port 0 picks one; every term keeps it). */
  #port: number;
  /** Wall clock of the last change of leader as this primary saw it, and terms led. */
  #terms = 0;
  readonly #address: string;
  /** The epoch a store refused as older than its own (ERR_STORE_FENCED): that term is over. */
  #fencedEpoch: number | undefined;
  #retryTimer: NodeJS.Timeout | undefined;

  /** @throws ConfigError when the HA options are invalid or the store cannot be shared. */
  constructor(options: PrimaryOptions & { ha: HaOptions }) {
    super();
    if (!options.store) throw new ConfigError('ha.etcd: HA needs a shared store: store = "postgres://…"');
    this.dataDir = resolve(options.dataDir ?? DEFAULTS.dataDir);
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
    const port = options.port ?? DEFAULTS.port;
    this.#port = port;
    const bind = options.bind ?? DEFAULTS.bind;
    const host = bind === '0.0.0.0' || bind === '::' ? hostname() : bind;
    this.#address = options.ha.advertise ?? (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
    this.#election = this.#newElection();
  }

  /** A campaign (a resigned election is spent: a new one is made to campaign again). */
  #newElection(): LeaderElection {
    const { ha } = this.#options;
    const election = new LeaderElection({
      endpoints: ha.etcd,
      clusterId: ha.clusterId ?? 'picluster',
      primaryId: ha.name ?? hostname(),
      address: this.#address,
      ttlMs: ha.ttlMs,
      logger: this.#log,
    });
    election.on('state', () => this.#reconcile());
    election.on('leader', () => this.#reconcile());
    return election;
  }

  /** Campaigns, and stands by until this primary leads. */
  async start(): Promise<void> {
    this.#primaryId = loadOrCreatePrimaryId(this.dataDir);
    await this.#openStandby();
    try {
      await this.#election.start();
    } catch (err) {
      await this.#closeStandby();
      throw err;
    }
    this.#log.info(
      { etcd: this.#options.ha.etcd, address: this.#election.options.address },
      'primary standing by; campaigning for the lead',
    );
  }

  /**
   * Ends the term (its links closed first, then its last samples committed: not acknowledged, so
   * the nodes send them again to the next leader, which skips the seqs it has), then resigns:
   * another primary leads within milliseconds.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    await this.#enqueue(async () => {
      await this.#endTerm();
      await this.#closeStandby();
    });
    await this.#election.resign();
  }

  /** Who leads as this primary sees it (status, dashboard, /metrics). */
  get leadership(): LeadershipView {
    const leader = this.#election.leader;
    const state = this.#election.state;
    return {
      state: this.#term && this.#election.canAct() ? 'leader' : state === 'leader' ? 'follower' : state,
      self: { name: this.#election.options.primaryId, address: this.#election.options.address },
      leader: leader ? { name: leader.id, address: leader.address, epoch: leader.epoch, since: leader.since } : null,
      terms: this.#terms,
    };
  }

  /** The election, for tests and the term's fence. */
  get election(): LeaderElection {
    return this.#election;
  }

  /** The running term's primary, when this one leads. */
  get term(): Primary | undefined {
    return this.#term;
  }

  #reconcile(): void {
    void this.#enqueue(async () => {
      if (this.#stopped) return;
      const epoch = this.#election.epoch;
      const fenced = epoch !== undefined && this.#fencedEpoch === epoch;
      const lead = this.#election.canAct() && !fenced;
      if (this.#term && (!lead || epoch !== this.#termEpoch)) await this.#endTerm();
      // Still holding the lease of an epoch the store has left behind (etcd rebuilt, its revisions
      // begun again): holding it would keep every other primary from leading.
      if (fenced) await this.#stepAside(new Error('the store holds a newer epoch than this lease'), epoch);
      else if (lead && !this.#term) await this.#beginTerm();
      if (!this.#term && !this.#standby) await this.#openStandby();
    });
  }

  /**
   * A term that could not start (the store unreachable or refusing the claim, the port taken) must
   * not keep the lease: this primary resigns, so another one can lead, and campaigns again later.
   */
  async #stepAside(err: unknown, epoch: number): Promise<void> {
    this.#log.error(
      { err, epoch },
      `leadership: could not lead (${(err as Error).message}); stepping aside for ${RETRY_AFTER_FAILED_TERM_MS / 1000} s`,
    );
    const spent = this.#election;
    this.#election = this.#newElection();
    await spent.resign();
    this.#retryTimer = setTimeout(() => {
      if (this.#stopped) return;
      this.#election.start().catch((e: unknown) => this.#log.error({ err: e }, 'leadership: cannot campaign again'));
    }, RETRY_AFTER_FAILED_TERM_MS);
    this.#retryTimer.unref();
  }

  /** A term's store: an ERR_STORE_FENCED from any call (a newer leader claimed it) ends the term at once. */
  #watchFence(store: Store, epoch: number): Store {
    const onFenced = (err: unknown) => {
      if (!isStoreFenced(err) || this.#fencedEpoch === epoch) return;
      this.#fencedEpoch = epoch;
      this.#log.warn({ epoch }, 'a newer leader holds the store: ending the term');
      this.#reconcile();
    };
    return watchRejections(store, onFenced);
  }

  /** Transitions run one at a time, in order. */
  #enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.#transition.then(step).catch((err: unknown) => {
      this.#log.error({ err }, 'leadership: a transition failed');
    });
    this.#transition = next;
    return next;
  }

  async #beginTerm(): Promise<void> {
    const epoch = this.#election.epoch;
    if (epoch === undefined) return;
    await this.#closeStandby();
    const election = this.#election;
    const mayAct = () => election.canAct() && election.epoch === epoch && this.#fencedEpoch !== epoch;
    const factory = this.#options.store as StoreFactory;
    const primary = new Primary({
      ...this.#options,
      port: this.#port,
      store: async (options) => this.#watchFence(await factory(options), epoch),
      leader: { epoch, mayAct, leaderAddress: () => election.leader?.address },
    });
    for (const event of FORWARDED) primary.on(event, (...args: unknown[]) => this.emit(event, ...(args as [never])));
    primary.on('state', (state) => this.emit('state', state));
    try {
      await primary.start();
    } catch (err) {
      await this.#stepAside(err, epoch);
      return;
    }
    if (!mayAct()) {
      // The lease went while the term started: it ends before it acted.
      await primary.stop();
      return;
    }
    this.#term = primary;
    this.#termEpoch = epoch;
    this.#terms++;
    this.#log.info({ epoch, address: election.options.address }, 'leading the cluster');
    this.emit('listening', primary.port);
    // Nodes see the change at once (the dashboard drops the standby's empty list).
    for (const view of primary.nodes()) this.emit('node', view);
  }

  async #endTerm(): Promise<void> {
    const term = this.#term;
    if (!term) return;
    this.#term = undefined;
    this.#log.warn({ epoch: this.#termEpoch }, 'no longer leading the cluster: ending the term');
    await term.stop();
  }

  async #openStandby(): Promise<void> {
    if (this.#standby || this.#stopped) return;
    const o = this.#options;
    const tls = await clusterTlsOf(this.dataDir, o.tls, this.#primaryId, this.#log);
    const standby = await openStandbyPort({
      ...o,
      port: this.#port,
      tls: tls?.listener,
      primaryId: this.#primaryId,
      leader: () => this.#election.leader?.address,
      stats: this.#standbyStats,
      logger: this.#log,
    });
    this.#port = standby.listener.port;
    this.#standby = standby;
  }

  async #closeStandby(): Promise<void> {
    const standby = this.#standby;
    if (!standby) return;
    this.#standby = undefined;
    const closed = standby.listener.close();
    standby.sessions.closeAll();
    standby.listener.destroyAll();
    await closed;
  }

  // ClusterView: the term's primary while this one leads; an empty, not-ready standby otherwise.

  get ready(): boolean {
    return this.#term?.ready ?? false;
  }

  get primaryId(): string {
    return this.#primaryId;
  }

  /** On a standby: ERR_NOT_LEADER (503 naming the leader), never an empty list that reads as "no nodes". */
  nodes() {
    return this.#term?.nodes() ?? this.#refuse();
  }

  node(id: string) {
    return this.#term ? this.#term.node(id) : this.#refuse();
  }

  nodeRecords() {
    return this.#term?.nodeRecords() ?? [];
  }

  get nodeCount(): number {
    return this.#term?.nodeCount ?? 0;
  }

  get onlineCount(): number {
    return this.#term?.onlineCount ?? 0;
  }

  get stats() {
    return this.#term?.stats ?? this.#standbyStats;
  }

  get writerStats() {
    return this.#term?.writerStats;
  }

  get nodeWriterStats() {
    return this.#term?.nodeWriterStats;
  }

  get history(): StoreReader {
    return this.#term?.history ?? this.#refuse();
  }

  get admin() {
    return this.#term?.admin ?? this.#refuse();
  }

  get tasks() {
    return this.#term?.tasks ?? this.#refuse();
  }

  get schedules() {
    return this.#term?.schedules;
  }

  get alerts() {
    return this.#term?.alerts;
  }

  get port(): number | undefined {
    return this.#term?.port ?? this.#standby?.listener.port;
  }

  get tlsFingerprint(): string | undefined {
    return this.#term?.tlsFingerprint;
  }

  get tlsCredentials() {
    return this.#term?.tlsCredentials;
  }

  get disk() {
    return this.#term?.disk;
  }

  #refuse(): never {
    const leader = this.#election.leader?.address;
    throw new NotLeaderError(
      leader === undefined
        ? 'this primary is a standby and no primary leads the cluster now'
        : `this primary is a standby; the leader is at ${leader}`,
      leader,
    );
  }
}
