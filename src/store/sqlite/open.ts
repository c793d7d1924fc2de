// The embedded store, loaded when a primary opens it: better-sqlite3 is an optional dependency (a
// node that only runs the agent installs without a C++ toolchain, `npm install --omit=optional`),
// so nothing else loads it, and a primary on an install without it says in one line what to do.

import { StoreError } from '../../protocol/errors.js';
import type { Store, StoreOptions } from '../store-api.js';

/** The line a primary without the SQLite driver stops with. */
export const NO_SQLITE_DRIVER =
  'the primary needs the SQLite driver (npm package better-sqlite3), which this install left out (npm install --omit=optional, or its native build failed): run `npm install better-sqlite3@12` where picluster is installed (it needs a C++ toolchain where npm has no prebuilt binary); an agent (picluster secondary) does not need it';

/** Opens (creating if needed) DATA/primary.db. @throws StoreError with NO_SQLITE_DRIVER when the driver is not installed. */
export async function openSqliteStore(options: StoreOptions): Promise<Store> {
  let loaded: typeof import('./sqlite-store.js');
  try {
    loaded = await import('./sqlite-store.js');
  } catch (err) {
    if (isMissingDriver(err)) throw new StoreError('ERR_STORE', NO_SQLITE_DRIVER, { cause: err });
    throw err;
  }
  return loaded.openSqliteStore(options);
}

/** Whether `err` says better-sqlite3 (or its compiled addon) cannot be loaded. */
export function isMissingDriver(err: unknown): boolean {
  const { code, message } = err as { code?: string; message?: string };
  const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
  // A package present without its addon (a failed build) fails in `bindings` with this text.
  return /better-sqlite3/.test(message ?? '') && (notFound || /Could not locate the bindings file/.test(message ?? ''));
}
