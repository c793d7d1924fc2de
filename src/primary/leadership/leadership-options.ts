// Options of a primary's leader election (issue 17): every default in one frozen object, resolved
// and checked once at construction (STYLE.md, "Options and configuration").
import type { Logger } from '../../common/logger.js';
import type { Clock } from '../../connection/clock.js';
import { ConfigError } from '../../protocol/errors.js';

export interface LeaderElectionOptions {
  /** etcd client URLs, `http://host:2379` or `https://…` (config `ha.etcd`). */
  endpoints: string[];
  /** Names the election: the key prefix is `/picluster/<clusterId>/leader/`. */
  clusterId: string;
  /** This primary's id, announced with its address. */
  primaryId: string;
  /** The cluster address secondaries should dial when this primary leads (`host:port`). */
  address: string;
  /** Lease TTL in ms, whole seconds (etcd counts leases in seconds). Default 5000. */
  ttlMs?: number;
  /** canAct() turns false this long before the local lease deadline. Default ttlMs / 5. */
  marginMs?: number;
  /** Lease renewal period in ms. Default ttlMs / 3 (what etcd's Go client does). */
  keepaliveIntervalMs?: number;
  /** Longest wait for one etcd call, in ms. Default keepaliveIntervalMs. */
  requestTimeoutMs?: number;
  /** Override of the election key prefix (must end with `/`). */
  keyPrefix?: string;
  /** Monotonic clock for every duration and the fence; wall clock for `since` only. */
  clock?: Clock;
  logger?: Logger;
}

export const LEADERSHIP_DEFAULTS = Object.freeze({
  ttlMs: 5_000,
  /** Share of the TTL kept as the fencing margin. */
  marginShare: 0.2,
  /** Renewals per TTL. */
  keepalivesPerTtl: 3,
  /** First retry ceiling after a failed campaign (full jitter, doubling up to keepaliveIntervalMs). */
  retryInitialDelayMs: 100,
});

export interface ResolvedLeadershipOptions {
  endpoints: string[];
  primaryId: string;
  address: string;
  ttlMs: number;
  marginMs: number;
  keepaliveIntervalMs: number;
  requestTimeoutMs: number;
  keyPrefix: string;
}

/** Fills in defaults and checks the combination. @throws ConfigError naming the option. */
export function resolveLeadershipOptions(options: LeaderElectionOptions): ResolvedLeadershipOptions {
  const { endpoints, clusterId, primaryId, address } = options;
  if (!Array.isArray(endpoints) || endpoints.length === 0)
    throw new ConfigError('ha.etcd: expected at least one etcd endpoint, e.g. ["http://10.0.0.1:2379"]');
  for (const url of endpoints)
    if (!/^https?:\/\/[^/\s]+\/?$/.test(url))
      throw new ConfigError(`ha.etcd: "${String(url).slice(0, 80)}" is not an http(s)://host:port URL`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(clusterId ?? ''))
    throw new ConfigError(`leadership clusterId "${String(clusterId).slice(0, 80)}": use 1-64 of A-Z a-z 0-9 . _ -`);
  if (!primaryId) throw new ConfigError('leadership primaryId: empty');
  if (!address) throw new ConfigError('leadership address: empty (the host:port secondaries should dial)');
  const ttlMs = options.ttlMs ?? LEADERSHIP_DEFAULTS.ttlMs;
  if (!Number.isInteger(ttlMs) || ttlMs < 1000 || ttlMs % 1000 !== 0)
    throw new ConfigError(`ha.ttlMs ${ttlMs}: expected whole seconds of at least 1000 ms (etcd leases count seconds)`);
  const keepaliveIntervalMs = options.keepaliveIntervalMs ?? Math.floor(ttlMs / LEADERSHIP_DEFAULTS.keepalivesPerTtl);
  const marginMs = options.marginMs ?? Math.floor(ttlMs * LEADERSHIP_DEFAULTS.marginShare);
  const requestTimeoutMs = options.requestTimeoutMs ?? keepaliveIntervalMs;
  if (!(keepaliveIntervalMs > 0)) throw new ConfigError(`ha.keepaliveIntervalMs ${keepaliveIntervalMs}: must be > 0`);
  if (!(requestTimeoutMs > 0)) throw new ConfigError(`ha.requestTimeoutMs ${requestTimeoutMs}: must be > 0`);
  // One lost renewal must not stop a healthy leader: the next one comes before the fence.
  if (!(marginMs >= 0 && marginMs + keepaliveIntervalMs < ttlMs))
    throw new ConfigError(
      `ha.marginMs ${marginMs}: needs 0 ≤ marginMs and marginMs + keepaliveIntervalMs (${keepaliveIntervalMs}) < ttlMs (${ttlMs}); lower the margin or renew more often`,
    );
  const keyPrefix = options.keyPrefix ?? `/picluster/${clusterId}/leader/`;
  if (!keyPrefix.endsWith('/')) throw new ConfigError(`leadership keyPrefix "${keyPrefix}": must end with "/"`);
  return {
    endpoints: [...endpoints],
    primaryId,
    address,
    ttlMs,
    marginMs,
    keepaliveIntervalMs,
    requestTimeoutMs,
    keyPrefix,
  };
}
