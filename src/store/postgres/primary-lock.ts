// A single primary's hold on its PostgreSQL database (no HA: epoch 0), what the data-dir lock is
// for SQLite: a session-level advisory lock (LOCKS.primary) on a connection of its own, kept open
// for the store's life. While it is held, another single primary is refused in one line naming the
// connection that holds it; the server lets go when that connection ends (the primary stopped or
// died; the connection asks the server to probe a silent peer, so a dead machine's hold goes
// within about 30 s, not TCP's two hours). Every write checks inside its transaction that this
// connection still holds it (pg-database.ts). If the connection ends under a running primary (the
// server restarted, the link broke), writes wait (ERR_STORE_BUSY) while the lock is taken again on
// a new connection; held by another connection meanwhile, or taken again on a database that was
// claimed since (its epoch row rewritten), the store is fenced off for good (ERR_STORE_FENCED).

import type pg from 'pg';
import type { Logger } from '../../common/logger.js';
import { StoreError } from '../../protocol/errors.js';
import { LOCKS } from './schema.js';

/** The server probes a silent peer of the holding connection after 10 s, every 5 s, and drops it after 3 unanswered. */
const SERVER_KEEPALIVE_SQL =
  'SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3';
/** The lock as pg_locks lists it (a bigint key: classid its high half, objid its low one, objsubid 1). */
const LOCK_ROW = `locktype = 'advisory' AND classid = 0 AND objid = ${LOCKS.primary} AND objsubid = 1 AND granted`;
const TAKE_SQL = `SELECT pg_try_advisory_lock(${LOCKS.primary}) AS locked, pg_backend_pid() AS pid,
  (SELECT backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS started`;
const HOLDER_SQL = `SELECT l.pid, host(a.client_addr) AS address, a.backend_start::text AS started
  FROM (SELECT pid FROM pg_locks WHERE ${LOCK_ROW}
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) l
  LEFT JOIN pg_stat_activity a ON a.pid = l.pid`;
const CLAIM_SQL = 'SELECT epoch, xmin::text AS version FROM leader_epoch WHERE id = 1';

/** What a write runs inside its transaction: `held` is 1 while connection `pid` holds the lock. */
export function heldSql(pid: number): string {
  return `SELECT count(*)::int AS held FROM pg_locks WHERE ${LOCK_ROW} AND pid = ${pid}`;
}

/** The wait before the attempt-th try to take the lock again: capped exponential, full jitter. */
export function regainDelayMs(attempt: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(5000, 100 * 2 ** Math.min(attempt, 16)));
}

/** A server session: its pid and when it began (a pid alone may be reused). */
interface Session {
  pid: number;
  started: string | null;
}

/** The session holding the lock, as pg_stat_activity shows it (address and start hidden for another role's). */
interface Holder extends Session {
  address: string | null;
}

/** The epoch row as this store's claim left it: `version` is the row's xmin, new at every claim. */
export interface ClaimMark {
  epoch: number;
  version: string;
}

export interface PrimaryLockOptions {
  /** A new connection with the store's settings (never one of its pool). */
  connect: () => pg.Client;
  /** The server's URL, its password masked. */
  where: string;
  logger: Logger;
}

type Taken = { client: pg.Client; self: Session; holder?: undefined } | { client: pg.Client; holder: Holder | null };

export class PrimaryLock {
  readonly #options: PrimaryLockOptions;
  #state: 'held' | 'regaining' | 'fenced' | 'released' = 'held';
  #client: pg.Client;
  #self: Session;
  #claim: ClaimMark | undefined;
  #fencedBy = '';
  #wake: (() => void) | undefined;
  #regaining: Promise<void> = Promise.resolve();

  private constructor(options: PrimaryLockOptions, client: pg.Client, self: Session) {
    this.#options = options;
    this.#client = client;
    this.#self = self;
    this.#watch(client);
  }

  /**
   * Takes the lock on a new connection.
   * @throws StoreError ERR_STORE_BUSY while another connection holds it (naming it); the driver's
   * error when the server cannot be reached.
   */
  static async take(options: PrimaryLockOptions): Promise<PrimaryLock> {
    const taken = await takeOn(options.connect);
    if (taken.holder === undefined) return new PrimaryLock(options, taken.client, taken.self);
    await endQuietly(taken.client);
    throw new StoreError(
      'ERR_STORE_BUSY',
      `another primary is using the PostgreSQL database at ${options.where} (${describe(taken.holder)}): stop it, or run the primaries in HA mode (ha.etcd) for standbys; a primary whose machine died lets go within a minute`,
    );
  }

  /** The claim this store made: the lock is held again later only on a database still so. */
  claimed(mark: ClaimMark): void {
    this.#claim = mark;
  }

  /**
   * The pid of the connection holding the lock, for a write to check (heldSql).
   * @throws StoreError ERR_STORE_BUSY while it is taken again, ERR_STORE_FENCED once lost.
   */
  holder(): number {
    if (this.#state !== 'held') throw this.#error();
    return this.#self.pid;
  }

  /** A write found the lock no longer held by `pid`: that connection is given up. The write's error. */
  notHeld(pid: number): StoreError {
    if (pid === this.#self.pid) this.#lose(this.#client, 'the server no longer lists the lock for it');
    return this.#error();
  }

  /** Ends the connection: the server lets go of the lock. */
  async release(): Promise<void> {
    if (this.#state === 'released') return;
    this.#state = 'released';
    this.#wake?.();
    await this.#regaining;
    await endQuietly(this.#client);
  }

  #watch(client: pg.Client): void {
    client.on('error', (err) => this.#lose(client, err.message));
    client.on('end', () => this.#lose(client, 'the connection ended'));
  }

  #lose(client: pg.Client, why: string): void {
    if (client !== this.#client || this.#state !== 'held') return;
    this.#state = 'regaining';
    this.#options.logger.warn(
      { where: this.#options.where, connection: this.#self.pid, message: why },
      "the connection that holds this primary's claim on the PostgreSQL database failed; writes wait until it holds the database again",
    );
    void endQuietly(client);
    this.#regaining = this.#regain().catch((err: unknown) => this.#fence(`could not take it again: ${String(err)}`));
  }

  async #regain(): Promise<void> {
    const old = this.#self;
    for (let attempt = 0; this.#state === 'regaining'; attempt++) {
      await this.#pause(regainDelayMs(attempt));
      if (this.#state !== 'regaining') return;
      let taken: Taken;
      try {
        taken = await takeOn(this.#options.connect);
      } catch (err) {
        this.#options.logger.debug(
          { where: this.#options.where, message: String(err) },
          'cannot take the claim on the PostgreSQL database again yet; retrying',
        );
        continue;
      }
      try {
        if (this.#state !== 'regaining') return;
        if (taken.holder === undefined) {
          const { rows } = await taken.client.query<ClaimMark>(CLAIM_SQL);
          const now = rows[0];
          if (now?.epoch !== this.#claim?.epoch || now?.version !== this.#claim?.version) {
            return this.#fence(`its epoch row was claimed again meanwhile (epoch ${now?.epoch ?? 'none'})`);
          }
          this.#client = taken.client;
          this.#self = taken.self;
          this.#watch(taken.client);
          this.#state = 'held';
          this.#options.logger.info({ where: this.#options.where }, 'this primary holds the PostgreSQL database again');
          return;
        }
        const holder = taken.holder;
        if (holder === null) continue; // let go between the try and the look: the next try
        if (holder.pid !== old.pid || holder.started !== old.started || old.started === null) {
          return this.#fence(`${describe(holder)} holds it`);
        }
        // This primary's own connection, which the server has not dropped yet (the link broke on
        // this side): it ends now, the next try takes the lock.
        await taken.client.query('SELECT pg_terminate_backend($1)', [old.pid]);
        attempt = -1;
      } catch (err) {
        this.#options.logger.debug({ where: this.#options.where, message: String(err) }, 'retrying the claim');
      } finally {
        if (taken.client !== this.#client) await endQuietly(taken.client);
      }
    }
  }

  #fence(why: string): void {
    this.#state = 'fenced';
    this.#fencedBy = why;
    this.#options.logger.error({ where: this.#options.where }, this.#error().message);
  }

  #error(): StoreError {
    const where = this.#options.where;
    if (this.#state === 'fenced') {
      return new StoreError(
        'ERR_STORE_FENCED',
        `this primary lost its claim on the PostgreSQL database at ${where} and another primary has used it since (${this.#fencedBy}): this primary must stop; run one primary per database, or several in HA mode (ha.etcd)`,
      );
    }
    if (this.#state === 'released')
      return new StoreError('ERR_STORE_CLOSED', `the PostgreSQL store at ${where} is closed`);
    return new StoreError(
      'ERR_STORE_BUSY',
      `the connection that holds this primary's claim on the PostgreSQL database at ${where} failed: the write is retried once it holds the database again`,
    );
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      // A primary that waits for its database is kept alive by its listener, not by this.
      timer.unref();
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }
}

/** Connects and tries the lock: the connection and who holds the lock when it is not this one. */
async function takeOn(connect: () => pg.Client): Promise<Taken> {
  const client = connect();
  client.on('error', (err) => {
    void err; // a failure before the lock is held fails the call under way, which says it
  });
  try {
    await client.connect();
    const results = (await client.query(`${SERVER_KEEPALIVE_SQL}; ${TAKE_SQL}`)) as unknown as pg.QueryResult[];
    const row = results.at(-1)?.rows[0] as { locked: boolean; pid: number; started: string | null };
    if (row.locked) return { client, self: { pid: row.pid, started: row.started } };
    const { rows } = await client.query<Holder>(HOLDER_SQL);
    return { client, holder: rows[0] ?? null };
  } catch (err) {
    await endQuietly(client);
    throw err;
  }
}

function describe(holder: Holder | null): string {
  if (!holder) return 'a connection that just ended';
  const from = holder.address ? ` from ${holder.address}` : '';
  const since = holder.started ? `, since ${holder.started}` : '';
  return `its connection ${holder.pid}${from}${since}`;
}

async function endQuietly(client: pg.Client): Promise<void> {
  await client.end().catch((err: unknown) => {
    void err; // a connection that failed is closed already: nothing to release
  });
}
