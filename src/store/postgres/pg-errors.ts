// How failures of the PostgreSQL driver leave the store: as StoreError, by how the caller reacts
// (store-api.ts): the server out of reach, restarting or too busy → ERR_STORE_BUSY (retry soon),
// its disk full → ERR_STORE_FULL, anything else → ERR_STORE with the driver's error as `cause`.
// Pure: no driver import, so open.ts can use it before the driver is known to be installed. The
// server's URL appears in messages with its password masked: it is a secret.

import { StoreError } from '../../protocol/errors.js';

/** SQLSTATEs (and their classes, 2 characters) after which the same call may work soon. */
const BUSY_STATES = new Set([
  '08', // connection exception
  '57P01', // admin_shutdown: the server is stopping
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up, or in recovery
  '57014', // query_canceled (a statement or lock timeout)
  '53300', // too_many_connections
  '53200', // out_of_memory
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '25P03', // idle_in_transaction_session_timeout: the server ended a transaction that stalled
]);

/** Socket errors of a server out of reach. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EAI_AGAIN',
]);

/** What the driver says, without a code, when a connection is gone or could not be made in time. */
const CONNECTION_LOST =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|not queryable|Cannot use a pool after calling end/i;

/** `url` with its password (if any) replaced by `***`: for logs and error messages. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') {
      parsed.password = '***';
      return parsed.toString();
    }
  } catch (err) {
    void err; // not a WHATWG URL (a socket form `postgres://u:p@/db?host=/run/…`, a `/` or `#` in the password): below
  }
  const keyValue = url.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1***');
  // Whatever stands between the scheme and the last `@` may hold a password (`u:12/34@h` parses as
  // host `u`, port 12): it goes whole.
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(keyValue)?.[0];
  const at = keyValue.lastIndexOf('@');
  return scheme && at > scheme.length ? `${scheme}***${keyValue.slice(at)}` : keyValue;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  // Node's connect to a name with several addresses fails with an AggregateError of each attempt.
  const first = (err as { errors?: unknown[] } | null)?.errors?.[0];
  return first === undefined ? undefined : codeOf(first);
}

/** True when `err` says the server is out of reach, restarting, or too busy right now. */
export function isRetryable(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined && (NETWORK_CODES.has(code) || BUSY_STATES.has(code) || BUSY_STATES.has(code.slice(0, 2))))
    return true;
  return CONNECTION_LOST.test(err instanceof Error ? err.message : String(err));
}

/** True when `err` says a connection broke (the client that saw it must not go back to the pool). */
export function isConnectionLost(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined && (NETWORK_CODES.has(code) || code.startsWith('08') || code.startsWith('57P'))) return true;
  return CONNECTION_LOST.test(err instanceof Error ? err.message : String(err));
}

/** The StoreError a driver failure leaves the store as; `where` is the server's masked URL. */
export function storeErrorOf(err: unknown, where: string): StoreError {
  if (err instanceof StoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = codeOf(err);
  if (code === '53100') {
    return new StoreError(
      'ERR_STORE_FULL',
      `the disk of the PostgreSQL server at ${where} is full (${message}): free space there; the write is retried`,
      { cause: err },
    );
  }
  if (isRetryable(err)) {
    return new StoreError(
      'ERR_STORE_BUSY',
      `the PostgreSQL server at ${where} cannot serve this now (${code ? `${code}: ` : ''}${message}): retry soon, and check that the server is up and reachable`,
      { cause: err },
    );
  }
  return new StoreError('ERR_STORE', code ? `${code}: ${message}` : message, { cause: err });
}
