// Leader election among primaries through etcd (issue 17). Every primary campaigns
// like etcd's Go client (concurrency/election.go): it takes a lease of `ttlMs` and puts the key
// PREFIX/<lease id in hex> = {id, address} on it; the key with the lowest create revision leads,
// and that create revision is the leader's **epoch** (it only grows: a later leader always has a
// higher one). The lease is renewed every `keepaliveIntervalMs` and the fence (LeaseDeadline) is
// moved to "send time of the last answered renewal + TTL" on the monotonic clock. canAct() is
// "I lead AND now < that deadline − margin", checked locally at each call: a leader cut off from
// etcd, or paused, stops acting when its own deadline passes, before etcd lets another primary
// lead, whatever the client library has (not yet) said. Without an etcd quorum nobody can renew,
// so nobody acts: state 'no-quorum'.
//
// HaPrimary (ha-primary.ts) runs a Primary per term on it, with the store and the nodes fenced
// by the epoch too. See docs/design.md, "Leadership and standby primaries".

import { EventEmitter } from 'node:events';
import type { Etcd3, Lease, Watcher } from 'etcd3';
import { type Logger, silentLogger } from '../../common/logger.js';
import { computeBackoffMs, sleep } from '../../connection/backoff.js';
import { type Clock, systemClock, type Timer } from '../../connection/clock.js';
import { TimeoutError } from '../../protocol/errors.js';
import { electionKey, type LeaderInfo, parseLeader, toRevision } from './election-key.js';
import { type Etcd3Module, loadEtcd3 } from './etcd-client.js';
import {
  LEADERSHIP_DEFAULTS,
  type LeaderElectionOptions,
  type ResolvedLeadershipOptions,
  resolveLeadershipOptions,
} from './leadership-options.js';
import { LeaseDeadline } from './lease-deadline.js';

/** 'no-quorum': this primary holds no lease it can vouch for (etcd unreachable or without quorum). */
export type LeadershipState = 'follower' | 'leader' | 'no-quorum' | 'stopped';

export interface LeaderElectionEvents {
  state: [state: LeadershipState, previous: LeadershipState];
  /** The leader as far as this primary knows; undefined when it knows of none (or has no quorum). */
  leader: [leader: LeaderInfo | undefined];
}

/** One lease and the election key on it. */
interface Session {
  lease: Lease;
  key: string;
  /** This primary's epoch: its key's create revision. */
  epoch: number;
  /** The last linearizable read found this key first. Stays true while the lease lives. */
  leads: boolean;
  /** The key was deleted under the lease (an operator, a revoke): campaign again. */
  lost: boolean;
}

export class LeaderElection extends EventEmitter<LeaderElectionEvents> {
  readonly options: Readonly<ResolvedLeadershipOptions>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #deadline = new LeaseDeadline();
  readonly #abort = new AbortController();
  readonly #value: string;
  #state: LeadershipState = 'stopped';
  #leader: LeaderInfo | undefined;
  #session: Session | undefined;
  #etcd: Etcd3Module | undefined;
  #client: Etcd3 | undefined;
  #watcher: Watcher | undefined;
  #loop: Promise<void> | undefined;
  #fenceTimer: Timer | undefined;
  #wakeSleeper: (() => void) | undefined;
  #woken = false;
  #started = false;

  /** @throws ConfigError when an option is invalid. */
  constructor(options: LeaderElectionOptions) {
    super();
    this.options = Object.freeze(resolveLeadershipOptions(options));
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#value = JSON.stringify({ id: this.options.primaryId, address: this.options.address });
  }

  get state(): LeadershipState {
    return this.#state;
  }

  /** The leader as far as this primary knows (undefined: none known, or no quorum). */
  get leader(): LeaderInfo | undefined {
    return this.#leader;
  }

  /** This primary's epoch while it leads, else undefined. */
  get epoch(): number | undefined {
    return this.canAct() ? this.#session?.epoch : undefined;
  }

  /**
   * The fence: true only while this primary leads AND the monotonic clock is before its local lease
   * deadline less the margin. Call it right before every leader action; never cache it.
   */
  canAct(): boolean {
    return this.msLeftToAct() > 0;
  }

  /** Milliseconds this primary may still act as leader without a renewal (0 when it may not). */
  msLeftToAct(): number {
    if (this.#state === 'stopped' || this.#session?.leads !== true || this.#session.lost) return 0;
    return Math.max(0, this.#deadline.msLeft(this.#clock.monotonicMs(), this.options.marginMs));
  }

  /** Loads the etcd client and starts campaigning; resolves once the campaign loop runs. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('LeaderElection.start: already started (a resigned election is not restarted)');
    this.#started = true;
    const etcd = await loadEtcd3();
    this.#etcd = etcd;
    this.#client = new etcd.Etcd3({ hosts: this.options.endpoints, dialTimeout: this.options.requestTimeoutMs });
    this.#setState('follower');
    this.#watch(this.#client);
    this.#loop = this.#run(this.#client);
  }

  /**
   * Stops acting at once, stops campaigning and revokes the lease, which deletes the key: another
   * primary leads within milliseconds. For a clean shutdown; idempotent.
   */
  async resign(): Promise<void> {
    if (this.#state === 'stopped' && this.#abort.signal.aborted) return;
    this.#setState('stopped'); // canAct() is false from here on
    this.#abort.abort();
    this.#wakeUp();
    if (this.#fenceTimer !== undefined) this.#clock.clearTimeout(this.#fenceTimer);
    await this.#loop;
    const session = this.#session;
    this.#session = undefined;
    if (session) await this.#revoke(session.lease);
    this.#deadline.clear();
    this.#setLeader(undefined);
    if (this.#watcher) await this.#settle(this.#watcher.cancel(), 'leadership: cancelling the watch failed');
    this.#client?.close();
  }

  async #run(client: Etcd3): Promise<void> {
    let attempt = 0;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        const session = await this.#campaign(client);
        attempt = 0;
        this.#session = session;
        await this.#hold(client, session);
      } catch (err) {
        if (signal.aborted) break;
        // Said once per outage; the retries while etcd stays away go to debug.
        const log = attempt === 0 ? this.#logger.warn : this.#logger.debug;
        log.call(
          this.#logger,
          { err: describe(err), state: this.#state },
          'leadership: no election key in etcd; campaigning again',
        );
      }
      if (signal.aborted) break;
      // The session is over (lease expired or refused, key gone, etcd unreachable): not leading.
      const ended = this.#session;
      this.#session = undefined;
      this.#deadline.clear();
      this.#evaluate();
      if (ended) await this.#revoke(ended.lease);
      const delayMs = computeBackoffMs(attempt++, {
        initialDelayMs: LEADERSHIP_DEFAULTS.retryInitialDelayMs,
        maxDelayMs: this.options.keepaliveIntervalMs,
      });
      await sleep(delayMs, signal).catch(() => undefined); // aborted by resign(): the loop ends
    }
  }

  /** Grants a lease and puts this primary's key on it. */
  async #campaign(client: Etcd3): Promise<Session> {
    const { ttlMs, keyPrefix } = this.options;
    const sentAtMs = this.#clock.monotonicMs();
    const lease = client.lease(ttlMs / 1000, { autoKeepAlive: false, ...this.#callOptions() });
    try {
      const leaseId = await this.#bounded(lease.grant(), 'lease grant');
      this.#renewed(sentAtMs, ttlMs);
      const key = electionKey(keyPrefix, leaseId);
      const put = client.put(key).value(this.#value).lease(leaseId);
      const result = await this.#bounded(
        client.if(key, 'Create', '==', 0).then(put).options(this.#callOptions()).commit(),
        'campaign',
      );
      // The key names a lease granted just now, so it cannot exist yet.
      if (!result.succeeded) throw new Error(`election key ${key} already exists`);
      const epoch = toRevision(result.header.revision);
      this.#logger.info({ key, epoch }, 'leadership: campaigning');
      return { lease, key, epoch, leads: false, lost: false };
    } catch (err) {
      this.#deadline.clear();
      await this.#revoke(lease);
      throw err;
    }
  }

  /** Renews the lease and reads who leads, until the lease or the key is gone (or resign()). */
  async #hold(client: Etcd3, session: Session): Promise<void> {
    const signal = this.#abort.signal;
    let nextRenewAtMs = this.#clock.monotonicMs() + this.options.keepaliveIntervalMs;
    while (!signal.aborted) {
      if (this.#clock.monotonicMs() >= nextRenewAtMs) {
        nextRenewAtMs = this.#clock.monotonicMs() + this.options.keepaliveIntervalMs;
        await this.#renew(session);
      }
      if (!session.lost) await this.#readLeader(client, session);
      if (session.lost) throw new Error(`election key ${session.key} was deleted`);
      this.#armFence();
      await this.#sleepOrWake(nextRenewAtMs - this.#clock.monotonicMs());
    }
  }

  async #renew(session: Session): Promise<void> {
    const sentAtMs = this.#clock.monotonicMs();
    try {
      const res = await this.#bounded(session.lease.keepaliveOnce(this.#callOptions()), 'lease keepalive');
      this.#renewed(sentAtMs, Number(res.TTL) * 1000);
    } catch (err) {
      // etcd says the lease is gone (it expired while we could not renew): a new campaign.
      if (this.#etcd && err instanceof this.#etcd.EtcdLeaseInvalidError) throw err;
      // Anything else (timeout, unreachable, no quorum) is retried at the next period; the fence
      // stops this primary acting when its deadline passes, whether or not a renewal got through.
      this.#debug(err, 'leadership: lease keepalive failed');
    }
  }

  /** A linearizable read of every key under the prefix (one per primary), oldest first. */
  async #readLeader(client: Etcd3, session: Session): Promise<void> {
    try {
      const res = await this.#bounded(
        client.getAll().prefix(this.options.keyPrefix).sort('Create', 'Ascend').options(this.#callOptions()).exec(),
        'leader read',
      );
      if (!res.kvs.some((kv) => kv.key.toString() === session.key)) {
        session.lost = true;
        return;
      }
      const first = res.kvs[0];
      if (first === undefined) return;
      // Once first, a key stays first while its lease lives: later keys get higher revisions.
      session.leads = first.key.toString() === session.key;
      this.#setLeader(
        parseLeader(first.value.toString(), toRevision(first.create_revision), this.#leader, this.#clock),
      );
    } catch (err) {
      this.#debug(err, 'leadership: reading the leader failed');
    }
  }

  #renewed(sentAtMs: number, ttlMs: number): void {
    this.#deadline.renewed(sentAtMs, ttlMs);
    if (this.#session) this.#armFence(); // while campaigning, the loop evaluates once the key is in
  }

  /**
   * Evaluates now and wakes again at the fence, so 'no-quorum' is said on time even while an etcd
   * call hangs. canAct() does not depend on it (it reads the clock). A timer may fire a little
   * early on the monotonic clock (libuv starts it from its cached loop time): then it is re-armed.
   */
  #armFence(): void {
    if (this.#fenceTimer !== undefined) this.#clock.clearTimeout(this.#fenceTimer);
    this.#fenceTimer = undefined;
    this.#evaluate();
    if (this.#state === 'stopped') return;
    const ms = this.#deadline.msLeft(this.#clock.monotonicMs(), this.options.marginMs);
    if (ms <= 0) return;
    this.#fenceTimer = this.#clock.setTimeout(() => this.#armFence(), ms + 1);
    this.#fenceTimer.unref?.();
  }

  /** Derives the state from the session and the fence. */
  #evaluate(): void {
    if (this.#state === 'stopped') return;
    const session = this.#session;
    const fresh = this.#deadline.validAt(this.#clock.monotonicMs(), this.options.marginMs);
    if (session === undefined || session.lost || !fresh) {
      this.#setState('no-quorum');
      this.#setLeader(undefined); // without a lease of its own, this primary cannot vouch for any leader
    } else {
      this.#setState(session.leads ? 'leader' : 'follower');
    }
  }

  #setState(state: LeadershipState): void {
    const previous = this.#state;
    if (state === previous) return;
    this.#state = state;
    const epoch = this.#session?.epoch;
    this.#logger.info({ state, previous, epoch }, `leadership: ${previous} → ${state}`);
    this.emit('state', state, previous);
  }

  #setLeader(leader: LeaderInfo | undefined): void {
    const before = this.#leader;
    if (before?.epoch === leader?.epoch && before?.id === leader?.id) return;
    this.#leader = leader;
    this.emit('leader', leader);
  }

  /** Watches the prefix so a resigned or expired leader is noticed at once, not at the next poll. */
  #watch(client: Etcd3): void {
    client
      .watch()
      .prefix(this.options.keyPrefix)
      .create()
      .then((watcher) => {
        if (this.#abort.signal.aborted) {
          void watcher.cancel();
          return;
        }
        this.#watcher = watcher;
        watcher.on('delete', (kv) => {
          if (this.#session && kv.key.toString() === this.#session.key) this.#session.lost = true;
          this.#wakeUp();
        });
        watcher.on('put', () => this.#wakeUp());
        watcher.on('error', (err) => this.#debug(err, 'leadership: watch failed; polling alone'));
      })
      .catch((err: unknown) => this.#debug(err, 'leadership: no watch; polling alone'));
  }

  /** Sleeps `ms`, or less when a watch event came (now or since the last sleep) or on resign(). */
  async #sleepOrWake(ms: number): Promise<void> {
    if (this.#woken || ms <= 0 || this.#abort.signal.aborted) {
      this.#woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(() => this.#wakeUp(), ms);
      this.#wakeSleeper = () => {
        this.#clock.clearTimeout(timer);
        resolve();
      };
    });
    this.#woken = false;
  }

  /** A watch event or resign(): the campaign loop reads etcd again now, not at the next period. */
  #wakeUp(): void {
    const sleeper = this.#wakeSleeper;
    this.#wakeSleeper = undefined;
    if (sleeper) sleeper();
    else this.#woken = true; // the loop is busy in an etcd call: its next sleep returns at once
  }

  /** Races an etcd call against requestTimeoutMs and resign(). */
  async #bounded<T>(promise: Promise<T>, what: string): Promise<T> {
    const signal = this.#abort.signal;
    const timeoutMs = this.options.requestTimeoutMs;
    let timer: Timer | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        promise,
        new Promise<never>((_, reject) => {
          timer = this.#clock.setTimeout(
            () => reject(new TimeoutError(`etcd ${what} timed out after ${timeoutMs} ms`)),
            timeoutMs,
          );
          onAbort = () => reject(new Error(`etcd ${what}: resigned`));
          signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** Revokes a lease (deleting its key), bounded; a failure leaves it to expire after the TTL. */
  async #revoke(lease: Lease): Promise<void> {
    await this.#settle(
      lease.revoke(this.#callOptions()),
      'leadership: revoking the lease failed; it expires after its TTL',
    );
  }

  /** Awaits a clean-up call for at most requestTimeoutMs; its failure is logged, never thrown. */
  async #settle(promise: Promise<unknown>, failure: string): Promise<void> {
    let timer: Timer | undefined;
    try {
      await Promise.race([
        promise,
        new Promise<void>((resolve) => {
          timer = this.#clock.setTimeout(resolve, this.options.requestTimeoutMs);
        }),
      ]);
    } catch (err) {
      this.#debug(err, failure);
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
  }

  /** gRPC deadlines are wall-clock instants by its API; our own timeouts run on the monotonic clock. */
  #callOptions(): { deadline: number } {
    return { deadline: this.#clock.wallMs() + this.options.requestTimeoutMs };
  }

  #debug(err: unknown, message: string): void {
    this.#logger.debug({ err: describe(err), state: this.#state }, message);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
