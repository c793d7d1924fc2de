// The store a primary runs on, opened and claimed before anything uses it: the factory given
// (SQLite by default), the claim for this primary's epoch (an HA leader's term; a single primary's
// 0, refused on an HA cluster's database), then the nodes online at the last stop marked lost
// and every node loaded. A store that cannot be claimed is closed again.

import type { Logger } from '../common/logger.js';
import { ConfigError } from '../protocol/errors.js';
import { openSqliteStore } from '../store/sqlite/open.js';
import { isStoreFenced, type Store, type StoredNode } from '../store/store-api.js';
import type { PrimaryOptions } from './primary-options.js';

export async function openPrimaryStore(
  given: PrimaryOptions,
  dataDir: string,
  log: Logger,
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
    return { store, nodes };
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}
