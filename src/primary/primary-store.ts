// The store a primary runs on, opened and claimed before anything uses it: the factory given
// (SQLite by default), the claim for this primary's epoch (an HA leader's term; a single primary's
// 0, refused on an HA cluster's database or while another single primary holds it), then the
// nodes online at the last stop marked lost and every node loaded. A store that cannot be claimed
// is closed again. A single primary's shared store that fences it off later stops that primary.

import type { Logger } from '../common/logger.js';
import { ConfigError } from '../protocol/errors.js';
import { openSqliteStore } from '../store/sqlite/open.js';
import { isStoreFenced, type Store, type StoredNode } from '../store/store-api.js';
import { watchRejections } from '../store/watch-store.js';
import type { PrimaryOptions } from './primary-options.js';

/**
 * @param onFenced called once when a single primary's shared store refuses it for good (an HA
 * leader claimed the database, or another primary took it while this one's hold was down).
 */
export async function openPrimaryStore(
  given: PrimaryOptions,
  dataDir: string,
  log: Logger,
  onFenced?: () => void,
): Promise<{ store: Store; nodes: StoredNode[] }> {
  const store = await (given.store ?? openSqliteStore)({ dataDir, retention: given.retention, logger: log });
  try {
    const leader = given.leader;
    if (leader && !store.claimEpoch) throw new ConfigError('HA (ha.etcd) needs a shared store: store = "postgres://…"');
    // Waits for older terms' writes; refused once a newer leader holds the store.
    await store.claimEpoch?.(leader?.epoch ?? 0).catch((err: unknown) => {
      if (leader || !isStoreFenced(err)) throw err;
      throw new ConfigError(
        `this store belongs to an HA cluster (${(err as Error).message}): start this primary with ha.etcd, as the others`,
      );
    });
    const markedLost = await store.markOnlineNodesLost();
    const nodes = await store.loadNodes();
    if (markedLost > 0) log.info({ nodes: markedLost }, 'nodes online at the last stop are lost until they reconnect');
    const shared = !leader && store.claimEpoch !== undefined;
    return { store: shared && onFenced ? watchFence(store, log, onFenced) : store, nodes };
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}

/**
 * `store`, saying the first ERR_STORE_FENCED of any call once and calling `onFenced`: a single
 * primary refused by its database for good stops (as an HA term ends) rather than run on without
 * a store. The call's own caller still gets the error.
 */
function watchFence(store: Store, log: Logger, onFenced: () => void): Store {
  let fenced = false;
  const onError = (err: unknown) => {
    if (!isStoreFenced(err) || fenced) return;
    fenced = true;
    log.error(
      { err },
      `this primary no longer holds its PostgreSQL database, so it stops (${(err as Error).message}); a primary without ha.etcd shares its database with no other primary`,
    );
    onFenced();
  };
  return watchRejections(store, onError);
}
