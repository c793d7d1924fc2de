// The embedded store, loaded when a primary opens it: better-sqlite3 is an optional dependency (a
// node that only runs the agent installs without a C++ toolchain, `npm install --omit=optional`),
// so nothing else loads it, and a primary on an install without it says in one line what to do.

import { StoreError } from '../../protocol/errors.js';
import type { Store, StoreOptions } from '../store-api.js';

/** The line a primary without the SQLite driver stops with. */
export const NO_SQLITE_DRIVER =
  'the primary needs the SQLite driver (npm package better-sqlite3), which this install left out or could not load (npm install --omit=optional, a native build that failed or never ran, or one made for another Node.js): run `npm rebuild better-sqlite3`, or `npm install better-sqlite3@12`, where picluster is installed (a C++ toolchain is needed where no prebuilt binary fits); an agent (picluster secondary) does not need it';

/** Opens (creating if needed) DATA/primary.db. @throws StoreError with NO_SQLITE_DRIVER when the driver is not installed. */
export async function openSqliteStore(options: StoreOptions): Promise<Store> {
  let loaded: typeof import('./sqlite-store.js');
  try {
    loaded = await import('./sqlite-store.js');
    // The compiled addon loads at the first Database, not at the import: try one here, so a
    // missing or mismatched build is said as such, never taken for a damaged primary.db.
    const { default: Database } = await import('better-sqlite3');
    new Database(':memory:').close();
  } catch (err) {
    if (isMissingDriver(err)) throw new StoreError('ERR_STORE', NO_SQLITE_DRIVER, { cause: err });
    throw err;
  }
  return loaded.openSqliteStore(options);
}

/** Whether `err` says better-sqlite3, or its compiled addon, cannot be loaded here. */
export function isMissingDriver(err: unknown): boolean {
  const { code, message = '' } = err as { code?: string; message?: string };
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /better-sqlite3/.test(message)) return true;
  // Present without its addon (a build that failed or never ran), or built for another Node.js.
  return (
    code === 'ERR_DLOPEN_FAILED' ||
    /Could not locate the bindings file|NODE_MODULE_VERSION|invalid ELF header|better_sqlite3\.node/.test(message)
  );
}
