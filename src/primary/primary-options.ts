// The options of a Primary (src/primary/primary.ts), each with its default and unit; the CLI fills
// them from the settings table (src/cli/settings.ts).

import type { AlertsConfig } from '../alerts/alerts-config.js';
import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import { ConfigError } from '../protocol/errors.js';
import { MAX_TASK_TIMEOUT_MS } from '../protocol/tasks.js';
import type { Retention, StoreFactory } from '../store/store-api.js';
import type { InfluxSinkOptions } from './influx-sink.js';
import { DEFAULT_LEGACY_SILENCE_MS } from './legacy-nodes.js';

export type ResolvedOptions = Required<
  Omit<
    PrimaryOptions,
    | 'token'
    | 'tokenFile'
    | 'logger'
    | 'dataDir'
    | 'retention'
    | 'influx'
    | 'store'
    | 'diskWarn'
    | 'tls'
    | 'limits'
    | 'alerts'
    | 'leader'
  >
> & { limits: PeerLimits };

/**
 * A primary that leads an HA cluster for one term (issue 17, leadership/ha-primary.ts): its epoch,
 * and the fence every leader action checks right before it takes effect (admitting a node, sending
 * a task); the store refuses its writes once a newer epoch is claimed.
 */
export interface LeaderTerm {
  epoch: number;
  mayAct(): boolean;
  /** The leader's cluster address as known now (for ERR_NOT_LEADER once this term is over). */
  leaderAddress(): string | undefined;
}

export interface PeerLimits {
  /** Connections one address may hold in their handshake. */
  maxHandshakesPerAddress: number;
  /** Failed proofs from one address within a minute before its connections wait out a backoff. */
  authFailuresPerMinute: number;
  /** What one session may send per second: frames, requests, vitals samples. */
  framesPerSecond: number;
  requestsPerSecond: number;
  samplesPerSecond: number;
  /** Nodes known (any state), and nodes pending approval. */
  maxNodes: number;
  maxPendingNodes: number;
}

export interface PrimaryOptions {
  /** Directory of `primary.db`, `token` and `primary-id`. Default ./data. */
  dataDir?: string;
  /** Cluster port; 0 picks a free one. Default 12345. */
  port?: number;
  /** Address to listen on. Default all interfaces. */
  bind?: string;
  /** Cluster token; without one the primary reads or creates `tokenFile` (mode 0600). */
  token?: string;
  /** The file of the cluster token, read at start and rewritten by `rotateToken()`. Default DATA/token. */
  tokenFile?: string;
  /**
   * Who joins: "open" (default: the token is the gate) or "approve" (a new node id waits as
   * `pending` until the operator approves it).
   */
  admission?: 'open' | 'approve';
  /**
   * Which nodes may query the fleet (other nodes) over the cluster link: a label selector
   * ("role=manager", "k=v,k2=v2": all must match), "*" for every node, "" for none (the default:
   * a node may query only itself and the primary).
   */
  fleetQueries?: string;
  heartbeatIntervalMs?: number;
  handshakeTimeoutMs?: number;
  maxFrameBytes?: number;
  maxConnections?: number;
  maxHandshakes?: number;
  /** Limits per peer (address or session) and on the node count; defaults in DEFAULTS (common/defaults.ts). */
  limits?: Partial<PeerLimits>;
  /** Accept nodes of the original Python cluster (LEGACY-PROTOCOL.md). Default false. */
  legacy?: boolean;
  /** Address ranges (CIDR) legacy nodes may connect from. Default loopback and the private ranges. */
  legacyAllow?: readonly string[];
  /** Legacy connections held at once. Default 256. */
  legacyMaxConnections?: number;
  /** Legacy nodes known at once (a new one past it is refused). Default 256. */
  legacyMaxNodes?: number;
  /** A legacy connection without vitals this long is closed, ms. Default 180000. */
  legacyIdleMs?: number;
  /** A legacy node silent this long is lost, ms. Default 20000. */
  legacySilenceMs?: number;
  /** History retention: raw samples, per-minute and per-hour rollups, ms. Defaults 24 h / 7 d / 365 d. */
  retention?: Partial<Retention>;
  /** How often finished minutes are rolled up and expired history pruned, ms. Default 30000. */
  pruneIntervalMs?: number;
  /**
   * TLS on the cluster port (the default): the certificate and key this primary presents (a key
   * and self-signed certificate are made in DATA/tls/ when not given), and the CA whose
   * certificates nodes must present (mutual TLS; off without one). `false`: plaintext, with a
   * warning at start. Nodes of the original protocol are plaintext either way.
   */
  tls?: { certFile?: string; keyFile?: string; clientCaFile?: string } | false;
  /** Alert rules, channels and settings (alerts/alerts-config.ts). Default: the default rules, no channels. */
  alerts?: AlertsConfig;
  /** Leads an HA cluster for this term (a shared store that can be fenced is then required). */
  leader?: LeaderTerm;
  /** Opens the store the primary runs on. Default: SQLite in DATA/primary.db (openSqliteStore). */
  store?: StoreFactory;
  /** Also write vitals to this InfluxDB 1.x (off without a URL). */
  influx?: Omit<InfluxSinkOptions, 'logger'>;
  /**
   * Longest a vitals sample waits for its commit, and its node for the ack, when few arrive, ms
   * (the live view has it at receipt). Default 120000; 20 ms once 256 wait or one node has 16.
   */
  vitalsCommitMs?: number;
  /** A node's clock further than this from ours is marked (`clock-skew` event), ms. Default 5000. */
  clockSkewThresholdMs?: number;
  /**
   * Say the data dir's disk is nearly full below `freePercent` % free or `freeBytes` free,
   * whichever is more (defaults 5 % and 500 MiB), checked every `intervalMs` (10 s).
   */
  diskWarn?: { freePercent?: number; freeBytes?: number; intervalMs?: number };
  /** Tasks given to one node at once (default 4); a task's default timeout and ttl, ms (5 min, 24 h). */
  tasksPerNode?: number;
  taskTimeoutMs?: number;
  taskTtlMs?: number;
  /** picluster version announced to nodes. */
  version?: string;
  logger?: Logger;
}

/** The limits given over their defaults; each a positive integer. @throws ConfigError */
export function resolveLimits(given: Partial<PeerLimits> = {}): PeerLimits {
  const limits: PeerLimits = {
    maxHandshakesPerAddress: DEFAULTS.maxHandshakesPerAddress,
    authFailuresPerMinute: DEFAULTS.authFailuresPerMinute,
    framesPerSecond: DEFAULTS.framesPerSecond,
    requestsPerSecond: DEFAULTS.requestsPerSecond,
    samplesPerSecond: DEFAULTS.samplesPerSecond,
    maxNodes: DEFAULTS.maxNodes,
    maxPendingNodes: DEFAULTS.maxPendingNodes,
  };
  for (const [key, value] of Object.entries(given) as Array<[keyof PeerLimits, number | undefined]>) {
    if (value === undefined) continue;
    if (!(key in limits)) throw new ConfigError(`unknown limit ${key}`);
    if (!Number.isInteger(value) || value < 1)
      throw new ConfigError(`limits.${key} must be a positive integer, got ${value}`);
    limits[key] = value;
  }
  return limits;
}

/** The options a Primary runs on: every default filled in, and checked. @throws ConfigError */
export function resolveOptions(options: PrimaryOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    port: options.port ?? DEFAULTS.port,
    bind: options.bind ?? DEFAULTS.bind,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
    maxFrameBytes: options.maxFrameBytes ?? DEFAULTS.maxFrameBytes,
    maxConnections: options.maxConnections ?? DEFAULTS.maxConnections,
    maxHandshakes: options.maxHandshakes ?? DEFAULTS.maxHandshakes,
    limits: resolveLimits(options.limits),
    legacy: options.legacy ?? false,
    legacySilenceMs: options.legacySilenceMs ?? DEFAULT_LEGACY_SILENCE_MS,
    legacyAllow: options.legacyAllow ?? DEFAULTS.legacyAllow,
    legacyMaxConnections: options.legacyMaxConnections ?? DEFAULTS.legacyMaxConnections,
    legacyMaxNodes: options.legacyMaxNodes ?? DEFAULTS.legacyMaxNodes,
    legacyIdleMs: options.legacyIdleMs ?? DEFAULTS.legacyIdleMs,
    version: options.version ?? '0.0.0',
    pruneIntervalMs: options.pruneIntervalMs ?? 30_000,
    clockSkewThresholdMs: options.clockSkewThresholdMs ?? DEFAULTS.clockSkewThresholdMs,
    vitalsCommitMs: options.vitalsCommitMs ?? DEFAULTS.vitalsCommitMs,
    admission: options.admission ?? 'open',
    fleetQueries: options.fleetQueries ?? '',
    tasksPerNode: options.tasksPerNode ?? DEFAULTS.tasksPerNode,
    taskTimeoutMs: options.taskTimeoutMs ?? DEFAULTS.taskTimeoutMs,
    taskTtlMs: options.taskTtlMs ?? DEFAULTS.taskTtlMs,
  };
  const { maxFrameBytes, vitalsCommitMs, taskTimeoutMs } = resolved;
  // Every task without a timeout of its own gets it: past a node's limit, each would be refused.
  if (!Number.isInteger(taskTimeoutMs) || taskTimeoutMs < 1 || taskTimeoutMs > MAX_TASK_TIMEOUT_MS)
    throw new ConfigError(
      `taskTimeoutMs must be an integer from 1 to ${MAX_TASK_TIMEOUT_MS} (7 days), got ${taskTimeoutMs}`,
    );
  if (!Number.isInteger(vitalsCommitMs) || vitalsCommitMs < 1 || vitalsCommitMs > 3_600_000)
    throw new ConfigError(`vitalsCommitMs must be an integer from 1 to 3600000 (1 h), got ${vitalsCommitMs}`);
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1024 || maxFrameBytes > DEFAULTS.maxFrameBytesCeiling) {
    throw new ConfigError(
      `maxFrameBytes must be an integer from 1024 to ${DEFAULTS.maxFrameBytesCeiling}, got ${maxFrameBytes}`,
    );
  }
  return resolved;
}
