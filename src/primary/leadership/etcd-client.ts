// The etcd v3 client (npm `etcd3`, Microsoft's, on @grpc/grpc-js), loaded only when a primary
// campaigns: it is an optional dependency, so an agent-only install (`npm install --omit=optional`)
// leaves it out and nothing but this module ever loads it (as store/sqlite/open.ts does for
// better-sqlite3).
import { ConfigError } from '../../protocol/errors.js';

export type Etcd3Module = typeof import('etcd3');

/** The line a primary configured for etcd, on an install without the client, stops with. */
export const NO_ETCD_CLIENT =
  'leader election (ha.etcd) needs the etcd client (npm package etcd3), which this install left out (npm install --omit=optional?): run `npm install etcd3@1` where picluster is installed; an agent (picluster secondary) does not need it';

/** Loads the etcd3 package. @throws ConfigError with NO_ETCD_CLIENT when it is not installed. */
export async function loadEtcd3(): Promise<Etcd3Module> {
  try {
    return await import('etcd3');
  } catch (err) {
    const { code, message = '' } = err as { code?: string; message?: string };
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /etcd3/.test(message))
      throw new ConfigError(NO_ETCD_CLIENT);
    throw err;
  }
}
