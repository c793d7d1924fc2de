// The options of a Primary (src/primary/primary.ts), each with its default and unit; the CLI fills
// them from the settings table (src/cli/settings.ts).

import type { Logger } from '../common/logger.js';
import type { Retention, StoreFactory } from '../store/store-api.js';
import type { InfluxSinkOptions } from './influx-sink.js';

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
  /** Accept nodes of the original Python cluster (LEGACY-PROTOCOL.md). Default false. */
  legacy?: boolean;
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
  /** Opens the store the primary runs on. Default: SQLite in DATA/primary.db (openSqliteStore). */
  store?: StoreFactory;
  /** Also write vitals to this InfluxDB 1.x (off without a URL). */
  influx?: Omit<InfluxSinkOptions, 'logger'>;
  /** A node's clock further than this from ours is marked (`clock-skew` event), ms. Default 5000. */
  clockSkewThresholdMs?: number;
  /**
   * Say the data dir's disk is nearly full below `freePercent` % free or `freeBytes` free,
   * whichever is more (defaults 5 % and 500 MiB), checked every `intervalMs` (10 s).
   */
  diskWarn?: { freePercent?: number; freeBytes?: number; intervalMs?: number };
  /** picluster version announced to nodes. */
  version?: string;
  logger?: Logger;
}
