// The PostgreSQL store, loaded when a primary opens it: the driver (npm pg) is an optional
// dependency, so nothing else loads it, and a primary told to use PostgreSQL on an install without
// it says in one line what to do. The URL's password is a secret: it never reaches a message.

import { StoreError } from '../../protocol/errors.js';
import type { Store, StoreFactory, StoreOptions } from '../store-api.js';
import { maskUrl } from './pg-errors.js';

/** The line a primary without the PostgreSQL driver stops with. */
export const NO_PG_DRIVER =
  'the PostgreSQL store needs its driver (npm package pg), which this install left out (npm install --omit=optional): run `npm install pg@8` where picluster is installed';

/** What a PostgreSQL store takes beyond StoreOptions. */
export interface PostgresExtra {
  /** Connections to the server at most. Default 5. */
  poolSize?: number;
}

/**
 * Opens (creating and migrating the schema as needed) the store in the database at `url`.
 * @throws StoreError ERR_STORE with NO_PG_DRIVER when the driver is not installed; see
 * postgres-store.ts for the rest.
 */
export async function openPostgresStore(options: StoreOptions & PostgresExtra & { url: string }): Promise<Store> {
  let loaded: typeof import('./postgres-store.js');
  try {
    loaded = await import('./postgres-store.js');
  } catch (err) {
    if (isMissingPgDriver(err)) throw new StoreError('ERR_STORE', NO_PG_DRIVER, { cause: err });
    throw new StoreError('ERR_STORE', `could not load the PostgreSQL store for ${maskUrl(options.url)}`, {
      cause: err,
    });
  }
  return loaded.openPostgresStore(options);
}

/** The StoreFactory of a primary on PostgreSQL: every store it opens is the database at `url`. */
export function postgresStoreFactory(url: string, extra: PostgresExtra = {}): StoreFactory {
  return (options) => openPostgresStore({ ...options, ...extra, url });
}

/** Whether `err` says the npm package pg (or one of its own packages) cannot be found. */
export function isMissingPgDriver(err: unknown): boolean {
  const { code, message = '' } = err as { code?: string; message?: string };
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    /Cannot find (?:package|module) '(?:pg|pg-[a-z-]+)(?:\/[^']*)?'/.test(message)
  );
}
