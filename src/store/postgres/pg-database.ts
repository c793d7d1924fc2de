// The PostgreSQL store's access to its server: a pool of connections (npm pg), reads on any of
// them, writes in one transaction each, fenced by the HA leader's epoch once this store claimed one
// (leader_epoch, see Store.claimEpoch) and, for a single primary (epoch 0), by its hold on the
// database (primary-lock.ts), the schema migrated at open, and every failure turned into a
// StoreError (pg-errors.ts). A connection that dies while idle is logged and replaced, never an
// unhandled 'error' event.

import pg from 'pg';
import type { Logger } from '../../common/logger.js';
import { StoreError } from '../../protocol/errors.js';
import { isConnectionLost, maskUrl, storeErrorOf } from './pg-errors.js';
import { type ClaimMark, heldSql, PrimaryLock } from './primary-lock.js';
import { LOCKS, MIGRATIONS, SCHEMA_TABLE, SCHEMA_VERSION, type Sql } from './schema.js';

/** How long a connection attempt may take before the call fails with ERR_STORE_BUSY. */
const CONNECT_TIMEOUT_MS = 10_000;
/** The longest wait for one statement's answer (every statement of this store is short). */
const QUERY_TIMEOUT_MS = 30_000;
/**
 * The server ends a session idle this long inside a transaction (a safety net: a claim ends an old
 * leader's sessions itself). Not shorter: a primary whose event loop is saturated leaves its
 * transaction idle between statements for seconds (measured at 50,000 samples/s offered: 2 s
 * timeouts ended commits in a row).
 */
const IDLE_IN_TRANSACTION_MS = 60_000;
/**
 * How long a claim of the epoch waits for the writes under the old one before it ends the sessions
 * that hold them (an old leader's transaction left open by a pause), and how often it does so.
 */
const CLAIM_WAIT_MS = 1000;
const CLAIM_TAKEOVERS = 5;
const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** Times, seqs and counts are bigint; they fit a JavaScript number (ms since 1970, < 2^53). */
const parseNumber = (value: string) => Number(value);

const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID || oid === NUMERIC_OID ? parseNumber : pg.types.getTypeParser(oid, format),
} as pg.CustomTypesConfig;

export interface PgDatabaseOptions {
  /** postgres://user:password@host:port/database (the password is never logged). */
  url: string;
  /** Connections at most. */
  poolSize: number;
  logger: Logger;
}

/** A write's locks, taken at its start in this order (epoch, history, events): no deadlock between writers. */
export interface WriteLocks {
  history?: 'shared' | 'exclusive';
  events?: boolean;
}

const FENCE_SQL = 'SELECT epoch FROM leader_epoch WHERE id = 1 FOR SHARE';

export class PgDatabase {
  /** The server's URL with its password masked. */
  readonly where: string;
  readonly #pool: pg.Pool;
  /** The settings of every connection: the pool's, and a single primary's hold. */
  readonly #config: pg.ClientConfig;
  readonly #log: Logger;
  #state: 'open' | 'closed' = 'open';
  /** The epoch this store claimed (undefined: none, its writes are not fenced). */
  #epoch: number | undefined;
  /** A single primary's hold on the database (claimed epoch 0): another one is refused meanwhile. */
  #lock: PrimaryLock | undefined;
  /** Clients whose connection broke during the call under way. */
  readonly #broken = new WeakSet<pg.PoolClient>();

  constructor(options: PgDatabaseOptions) {
    this.where = maskUrl(options.url);
    this.#log = options.logger;
    this.#config = {
      connectionString: options.url,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
      // A server that vanished without a reset (a cable pulled, a black hole) fails a call within
      // this, not at TCP's own give-up a quarter of an hour later: the writers hold and retry.
      query_timeout: QUERY_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: 'picluster',
      types,
    };
    this.#pool = new pg.Pool({ ...this.#config, max: options.poolSize });
    this.#pool.on('error', this.#poolOnError);
  }

  /** An idle connection failed (the server restarted, the link broke): the pool drops it. */
  #poolOnError = (err: Error): void => {
    this.#log.warn(
      { where: this.where, code: (err as { code?: unknown }).code, message: err.message },
      'an idle connection to PostgreSQL failed; the pool opens a new one when needed',
    );
  };

  get state(): 'open' | 'closed' {
    return this.#state;
  }

  /** The epoch this store claimed, if any. */
  get epoch(): number | undefined {
    return this.#epoch;
  }

  /** Resolves while open; rejects with ERR_STORE_CLOSED after close. */
  async ensureOpen(): Promise<void> {
    if (this.#state === 'closed') throw this.#closedError();
  }

  /** Runs `fn` on a connection of the pool, outside a transaction (reads). */
  read<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.#withClient(fn);
  }

  /**
   * Runs `fn` in one transaction: all or nothing. Once an epoch is claimed, the transaction first
   * takes a share lock on the stored epoch and fails with ERR_STORE_FENCED if it is not this
   * store's: a claim of a newer one waits for this transaction to end, so no write of the old
   * leader commits after the new one's claim returns. A single primary's transaction then checks
   * that its hold's connection still holds the database (else ERR_STORE_BUSY while it is taken
   * again): another primary can take it only once that connection is gone, and claims after it,
   * so no write of this one commits after that claim returns either.
   */
  write<T>(fn: (sql: Sql) => Promise<T>, locks: WriteLocks = {}): Promise<T> {
    return this.#withClient(async (client) => {
      const epoch = this.#epoch;
      const lock = this.#lock;
      const holder = lock?.holder();
      const head = ['BEGIN'];
      if (epoch !== undefined) head.push(FENCE_SQL);
      if (holder !== undefined) head.push(heldSql(holder));
      if (locks.history === 'shared') head.push(`SELECT pg_advisory_xact_lock_shared(${LOCKS.history})`);
      if (locks.history === 'exclusive') head.push(`SELECT pg_advisory_xact_lock(${LOCKS.history})`);
      if (locks.events) head.push(`SELECT pg_advisory_xact_lock(${LOCKS.events})`);
      return this.#inTransaction(client, head.join('; '), async (results) => {
        if (epoch !== undefined) {
          const stored = results[1]?.rows[0]?.epoch as number | undefined;
          if (stored !== epoch) throw fenced(epoch, stored);
        }
        if (lock && holder !== undefined && results[epoch === undefined ? 1 : 2]?.rows[0]?.held !== 1) {
          throw lock.notHeld(holder);
        }
        return fn(client);
      });
    });
  }

  /**
   * See Store.claimEpoch. Epoch 0 is a single primary's: it first takes its hold on the database
   * (primary-lock.ts), refused with ERR_STORE_BUSY while another primary has it, and keeps it
   * until close.
   */
  async claimEpoch(epoch: number): Promise<void> {
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new StoreError('ERR_STORE', `claimEpoch: epoch must be an integer >= 0, got ${epoch}`);
    }
    if (epoch !== 0 || this.#lock) {
      const mark = await this.#claimEpoch(epoch);
      this.#lock?.claimed(mark);
      return;
    }
    await this.ensureOpen();
    const lock = await PrimaryLock.take({
      connect: () => new pg.Client({ ...this.#config, application_name: 'picluster-hold' }),
      where: this.where,
      logger: this.#log,
    }).catch((err: unknown) => {
      throw storeErrorOf(err, this.where);
    });
    try {
      lock.claimed(await this.#claimEpoch(0));
      await this.ensureOpen(); // closed meanwhile: the hold goes with it
    } catch (err) {
      await lock.release();
      throw err;
    }
    this.#lock = lock;
  }

  #claimEpoch(epoch: number): Promise<ClaimMark> {
    return this.#withClient(async (client) => {
      for (let takeover = 0; ; takeover++) {
        try {
          return await this.#claim(client, epoch);
        } catch (err) {
          if ((err as { code?: unknown }).code !== '55P03' || takeover >= CLAIM_TAKEOVERS) throw err;
        }
        // A write of an older leader has held the epoch row past the wait: a primary paused or cut
        // off mid-transaction (it no longer leads: etcd elected this one). Its sessions end; their
        // writes roll back and the primary's retries find the new epoch. Needs the same role.
        const ended = await client.query(
          `SELECT pg_terminate_backend(pid) FROM pg_locks
           WHERE relation = 'leader_epoch'::regclass AND granted AND pid <> pg_backend_pid()`,
        );
        this.#log.warn(
          { where: this.where, epoch, sessions: ended.rowCount },
          'claiming the store: ended the sessions of an older leader that held it',
        );
      }
    });
  }

  /** One try of a claim: waits CLAIM_WAIT_MS at most for the writes under way. The epoch row as it left it. */
  async #claim(client: pg.PoolClient, epoch: number): Promise<ClaimMark> {
    // EXCLUSIVE conflicts with the ROW SHARE lock of every fenced write (FOR SHARE), so the claim
    // waits for those under way, and later ones queue behind it (a steady stream of writes
    // cannot starve it), then read the new epoch and fail.
    const head = `BEGIN; SET LOCAL lock_timeout = ${CLAIM_WAIT_MS}; LOCK TABLE leader_epoch IN EXCLUSIVE MODE`;
    const mark = await this.#inTransaction(client, head, async () => {
      const raised = await client.query<ClaimMark>(
        `INSERT INTO leader_epoch (id, epoch) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch WHERE leader_epoch.epoch <= excluded.epoch
         RETURNING epoch, xmin::text AS version`,
        [epoch],
      );
      if (raised.rowCount === 0) {
        const stored = await client.query('SELECT epoch FROM leader_epoch WHERE id = 1');
        throw fenced(epoch, stored.rows[0]?.epoch as number | undefined);
      }
      return raised.rows[0] as ClaimMark;
    });
    this.#epoch = epoch;
    return mark;
  }

  /**
   * Creates or migrates the schema (at open, before any claim), under an advisory lock: two
   * primaries opening one new database do not both migrate it.
   * @throws StoreError ERR_STORE_SCHEMA when the database is newer than this code.
   */
  migrate(): Promise<{ from: number; to: number }> {
    return this.#withClient((client) =>
      this.#inTransaction(client, `BEGIN; SELECT pg_advisory_xact_lock(${LOCKS.migrate})`, async () => {
        await client.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA_TABLE} (
          version    integer PRIMARY KEY,
          applied_at timestamptz NOT NULL DEFAULT now(),
          description text NOT NULL)`);
        const found = await client.query(`SELECT coalesce(max(version), 0) AS version FROM ${SCHEMA_TABLE}`);
        const current = Number(found.rows[0]?.version ?? 0);
        if (current > SCHEMA_VERSION) {
          throw new StoreError(
            'ERR_STORE_SCHEMA',
            `the PostgreSQL database at ${this.where} has schema version ${current}, newer than this picluster understands (${SCHEMA_VERSION}): upgrade picluster or point it at another database`,
          );
        }
        for (const migration of MIGRATIONS.filter((m) => m.version > current)) {
          await client.query(migration.sql);
          await client.query(`INSERT INTO ${SCHEMA_TABLE} (version, description) VALUES ($1, $2)`, [
            migration.version,
            migration.description,
          ]);
        }
        return { from: current, to: Math.max(current, SCHEMA_VERSION) };
      }),
    );
  }

  /** Ends every connection (waiting for calls under way), the hold's last; later calls fail with ERR_STORE_CLOSED. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await this.#pool.end();
    await this.#lock?.release();
  }

  #closedError(): StoreError {
    return new StoreError('ERR_STORE_CLOSED', `the PostgreSQL store at ${this.where} is closed`);
  }

  /**
   * Runs `head` (BEGIN and the locks, one round trip), then `fn` with its results, then COMMIT;
   * ROLLBACK on any failure.
   */
  async #inTransaction<T>(
    client: pg.PoolClient,
    head: string,
    fn: (results: pg.QueryResult[]) => Promise<T>,
  ): Promise<T> {
    try {
      const out = (await client.query(head)) as pg.QueryResult | pg.QueryResult[];
      const result = await fn(Array.isArray(out) ? out : [out]);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // The connection broke: the server rolls back by itself; the client must not be reused.
        this.#broken.add(client);
        this.#log.debug(
          { where: this.where, message: String(rollbackErr) },
          'ROLLBACK failed: dropping the connection',
        );
      }
      throw err;
    }
  }

  /** A connection of the pool for `fn`, released after (dropped when it broke); failures as StoreError. */
  async #withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#state === 'closed') throw this.#closedError();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.state === 'closed' ? this.#closedError() : storeErrorOf(err, this.where);
    }
    // A checked-out client has no listener of the pool's: without this, a connection dying during
    // a call would be an unhandled 'error' event. The call itself fails with the same error.
    const onError = (err: Error) =>
      this.#log.debug({ where: this.where, message: err.message }, 'a PostgreSQL connection in use failed');
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (err) {
      if (isConnectionLost(err)) this.#broken.add(client);
      if (err instanceof StoreError) throw err;
      throw this.state === 'closed' && isConnectionLost(err) ? this.#closedError() : storeErrorOf(err, this.where);
    } finally {
      client.removeListener('error', onError);
      // A broken client is destroyed (release with an error), not handed out again.
      const broken = this.#broken.delete(client);
      client.release(broken ? new Error('connection broken') : undefined);
    }
  }
}

function fenced(claimed: number, stored: number | undefined): StoreError {
  return new StoreError(
    'ERR_STORE_FENCED',
    `a newer leader holds the store: epoch ${stored ?? 'none'} is stored, this primary claimed ${claimed}; it must stop acting as leader`,
  );
}
