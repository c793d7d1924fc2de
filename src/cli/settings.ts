// Every configuration setting in one table: key, default, flag, environment name, validation and
// description. Config loading, `--help` and the README's configuration table all read it.

import type { TSchema } from 'typebox';
import { DEFAULTS } from '../common/defaults.js';
import { FLEET_SELECTOR_PATTERN } from '../protocol/label-selector.js';
import { LABELS_SCHEMA, NODE_NAME_SCHEMA } from '../protocol/messages.js';
import { allOf, array, boolean, integer, number, oneOf, optional, string } from './json-schema.js';
import { TASK_SETTINGS } from './task-settings.js';

export type Role = 'primary' | 'secondary' | 'status';

export interface Setting {
  /** Dotted key as in the TOML file: `heartbeat.intervalMs` is `[heartbeat] intervalMs`. */
  key: string;
  default: unknown;
  /** The value's JSON Schema (json-schema.ts); its check is generated (generated/setting-checks.ts). */
  schema: TSchema;
  /** What kind of text is accepted from env and flags. */
  kind: 'number' | 'duration' | 'bytes' | 'string' | 'boolean' | 'list' | 'labels';
  roles: Role[];
  description: string;
  /** Flag value placeholder for --help. */
  arg?: string;
}

const url = string({ pattern: '^https?://[^\\s]+$' });
const port = integer({ minimum: 0, maximum: 65535 });
const positiveMs = integer({ minimum: 1, maximum: 24 * 3600 * 1000 });
const host = string({ minLength: 1, maxLength: 253 });
const HOUR_MS = 3_600_000;
/** How long a tier of the vitals history is kept: an hour at least. */
const retentionMs = integer({ minimum: HOUR_MS });

export const SETTINGS: readonly Setting[] = [
  {
    key: 'dataDir',
    default: DEFAULTS.dataDir,
    schema: string({ minLength: 1 }),
    kind: 'string',
    roles: ['primary', 'secondary'],
    arg: 'DIR',
    description: 'data directory (primary: primary.db, token; secondary: node id, node secret, outbox)',
  },
  {
    key: 'token',
    default: undefined,
    schema: optional(string({ minLength: 16, maxLength: 512 })),
    kind: 'string',
    roles: ['primary', 'secondary'],
    arg: 'TOKEN',
    description: 'cluster token (prefer --token-file or PICLUSTER_TOKEN: flags show in ps)',
  },
  {
    key: 'tokenFile',
    default: undefined,
    schema: optional(string({ minLength: 1 })),
    kind: 'string',
    roles: ['primary', 'secondary'],
    arg: 'FILE',
    description: 'read the cluster token from FILE',
  },
  {
    key: 'bind',
    default: DEFAULTS.bind,
    schema: host,
    kind: 'string',
    roles: ['primary'],
    arg: 'ADDR',
    description: 'address the cluster port listens on',
  },
  {
    key: 'port',
    default: DEFAULTS.port,
    schema: port,
    kind: 'number',
    roles: ['primary'],
    arg: 'PORT',
    description: 'cluster port',
  },
  {
    key: 'webBind',
    default: DEFAULTS.webBind,
    schema: host,
    kind: 'string',
    roles: ['primary'],
    arg: 'ADDR',
    description: 'address of the dashboard, API and /metrics',
  },
  {
    key: 'webPort',
    default: DEFAULTS.webPort,
    schema: port,
    kind: 'number',
    roles: ['primary'],
    arg: 'PORT',
    description: 'web port',
  },
  {
    key: 'tls',
    default: true,
    schema: boolean,
    kind: 'boolean',
    roles: ['primary', 'secondary'],
    description:
      'TLS on the cluster port (--no-tls: plaintext, on both sides; nodes of the original protocol are plaintext anyway)',
  },
  {
    key: 'tlsCertFile',
    default: undefined,
    schema: optional(string({ minLength: 1 })),
    kind: 'string',
    roles: ['primary', 'secondary'],
    arg: 'FILE',
    description:
      'the certificate this process presents (PEM; with tlsKeyFile). Primary: default one made in DATA/tls/; secondary: for a primary that asks for one',
  },
  {
    key: 'tlsKeyFile',
    default: undefined,
    schema: optional(string({ minLength: 1 })),
    kind: 'string',
    roles: ['primary', 'secondary'],
    arg: 'FILE',
    description: 'the private key of tlsCertFile (PEM)',
  },
  {
    key: 'tlsClientCaFile',
    default: undefined,
    schema: optional(string({ minLength: 1 })),
    kind: 'string',
    roles: ['primary'],
    arg: 'FILE',
    description: 'mutual TLS: nodes must present a certificate this CA (PEM) signed',
  },
  {
    key: 'primaryFingerprint',
    default: undefined,
    schema: optional(string({ pattern: '^(sha256:)?[0-9A-Fa-f:]{64,95}$' })),
    kind: 'string',
    roles: ['secondary'],
    arg: 'SHA256',
    description: "the primary's certificate fingerprint to trust (sha256:…, printed by the primary at start)",
  },
  {
    key: 'tlsCaFile',
    default: undefined,
    schema: optional(string({ minLength: 1 })),
    kind: 'string',
    roles: ['secondary'],
    arg: 'FILE',
    description: 'trust a primary whose certificate this CA (PEM) signed',
  },
  {
    key: 'trustFirstUse',
    default: false,
    schema: boolean,
    kind: 'boolean',
    roles: ['secondary'],
    description:
      "trust the certificate of the first primary that proves the cluster's credentials, and pin it in DATA/primary-fingerprint (as SSH does)",
  },
  {
    key: 'legacy',
    default: false,
    schema: boolean,
    kind: 'boolean',
    roles: ['primary'],
    description: 'also accept nodes of the original Python cluster on the cluster port (unauthenticated)',
  },
  {
    key: 'legacyAllow',
    default: DEFAULTS.legacyAllow,
    schema: array(string({ minLength: 1, maxLength: 64 }), { minItems: 1 }),
    kind: 'list',
    roles: ['primary'],
    arg: 'CIDR[,...]',
    description:
      'address ranges legacy nodes may connect from (default: loopback and the private ranges); others are closed',
  },
  {
    key: 'legacyMaxConnections',
    default: DEFAULTS.legacyMaxConnections,
    schema: integer({ minimum: 1 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'legacy connections held at once',
  },
  {
    key: 'legacyMaxNodes',
    default: DEFAULTS.legacyMaxNodes,
    schema: integer({ minimum: 1 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'legacy nodes known at once; a new one past it is closed',
  },
  {
    key: 'legacyIdleMs',
    default: DEFAULTS.legacyIdleMs,
    schema: positiveMs,
    kind: 'duration',
    roles: ['primary'],
    arg: 'DURATION',
    description: 'a legacy connection that sends no vitals this long is closed (keepalives alone do not hold it)',
  },
  {
    key: 'primary',
    default: undefined,
    schema: optional(array(string({ minLength: 1 }), { minItems: 1 })),
    kind: 'list',
    roles: ['secondary'],
    arg: 'HOST:PORT[,...]',
    description: 'primary address(es), tried in turn',
  },
  {
    key: 'name',
    default: undefined,
    // What the primary accepts (messages.ts): up to 256 characters, none of them control characters.
    schema: optional(allOf([NODE_NAME_SCHEMA, string({ minLength: 1 })])),
    kind: 'string',
    roles: ['secondary'],
    arg: 'NAME',
    description: 'node name (default: the hostname)',
  },
  {
    key: 'labels',
    default: {},
    // What the primary accepts (messages.ts): up to 32, keys of letters, digits and . _ / -.
    schema: LABELS_SCHEMA,
    kind: 'labels',
    roles: ['secondary'],
    arg: 'k=v,...',
    description: 'node labels',
  },
  {
    key: 'heartbeat.intervalMs',
    default: DEFAULTS.heartbeatIntervalMs,
    schema: positiveMs,
    kind: 'duration',
    roles: ['primary', 'secondary'],
    arg: 'MS',
    description: 'silence before a ping; 3 missed = dead',
  },
  {
    key: 'handshake.timeoutMs',
    default: DEFAULTS.handshakeTimeoutMs,
    schema: positiveMs,
    kind: 'duration',
    roles: ['primary', 'secondary'],
    arg: 'MS',
    description: 'time to finish the handshake',
  },
  {
    key: 'vitals.periodMs',
    default: DEFAULTS.vitalsPeriodMs,
    schema: integer({ minimum: 100, maximum: 24 * 3600 * 1000 }),
    kind: 'duration',
    roles: ['secondary'],
    arg: 'MS',
    description: 'period of vitals samples',
  },
  {
    key: 'vitals.commitMs',
    default: DEFAULTS.vitalsCommitMs,
    schema: integer({ minimum: 1, maximum: HOUR_MS }),
    kind: 'duration',
    roles: ['primary'],
    arg: 'MS',
    description:
      'longest a vitals sample waits for its commit and ack when few arrive (shown live at once; 20 ms once 256 wait or one node has 16)',
  },
  {
    key: 'reconnect.initialDelayMs',
    default: DEFAULTS.reconnectInitialDelayMs,
    schema: positiveMs,
    kind: 'duration',
    roles: ['secondary'],
    arg: 'MS',
    description: 'first reconnect delay ceiling (full jitter)',
  },
  {
    key: 'reconnect.maxDelayMs',
    default: DEFAULTS.reconnectMaxDelayMs,
    schema: positiveMs,
    kind: 'duration',
    roles: ['secondary'],
    arg: 'MS',
    description: 'largest reconnect delay',
  },
  {
    key: 'outbox.maxSamples',
    default: DEFAULTS.outboxMaxSamples,
    schema: integer({ minimum: 1, maximum: 10_000_000 }),
    kind: 'number',
    roles: ['secondary'],
    arg: 'N',
    description: 'unacknowledged samples kept (oldest dropped first)',
  },
  {
    key: 'maxFrameBytes',
    default: DEFAULTS.maxFrameBytes,
    schema: integer({ minimum: 1024, maximum: DEFAULTS.maxFrameBytesCeiling }),
    kind: 'bytes',
    roles: ['primary'],
    arg: 'BYTES',
    description: 'largest frame accepted; secondaries learn it at the handshake and send nothing larger',
  },
  {
    key: 'limits.maxConnections',
    default: DEFAULTS.maxConnections,
    schema: integer({ minimum: 1 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'connections held at once',
  },
  {
    key: 'limits.maxHandshakes',
    default: DEFAULTS.maxHandshakes,
    schema: integer({ minimum: 1 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'connections in the handshake at once (up to 4 times as many more wait for a slot; past that, closed)',
  },
  {
    key: 'limits.maxStreams',
    default: DEFAULTS.maxStreams,
    schema: integer({ minimum: 1 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'live-stream (/api/stream) clients of the web port at once; past it, 503',
  },
  {
    key: 'limits.maxHandshakesPerAddress',
    default: DEFAULTS.maxHandshakesPerAddress,
    schema: integer({ minimum: 1 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'connections one address may hold in their handshake; past it, closed at accept',
  },
  {
    key: 'limits.authFailuresPerMinute',
    default: DEFAULTS.authFailuresPerMinute,
    schema: integer({ minimum: 1 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description:
      'failed proofs from one address within a minute before its connections are closed for a backoff (1 s, doubling, up to 5 min)',
  },
  {
    key: 'limits.framesPerSecond',
    default: DEFAULTS.framesPerSecond,
    // An agent sends up to 32 samples ahead of the acks: a lower rate would cut honest agents off.
    schema: integer({ minimum: 64 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description:
      'frames one node may send per second (at least 64); past it its session is held back, and closed (ERR_RATE_LIMITED) if it keeps on',
  },
  {
    key: 'limits.requestsPerSecond',
    default: DEFAULTS.requestsPerSecond,
    schema: integer({ minimum: 1 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'requests one node may send per second (held back, then closed, as above)',
  },
  {
    key: 'limits.samplesPerSecond',
    default: DEFAULTS.samplesPerSecond,
    // An agent sends up to 32 samples ahead of the acks: a lower rate would cut honest agents off.
    schema: integer({ minimum: 64 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'vitals samples one node may send per second (at least 64; a backlog drains at this pace)',
  },
  {
    key: 'limits.maxNodes',
    default: DEFAULTS.maxNodes,
    schema: integer({ minimum: 1 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'nodes the primary knows, in any state; a new one past it is refused (ERR_TOO_MANY_NODES)',
  },
  {
    key: 'limits.maxPendingNodes',
    default: DEFAULTS.maxPendingNodes,
    schema: integer({ minimum: 1 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'nodes waiting for approval at once (admission approve); a new one past it is refused',
  },
  {
    key: 'webTls',
    default: false,
    schema: boolean,
    kind: 'boolean',
    roles: ['primary'],
    description:
      "HTTPS on the web port, with the cluster port's certificate (DATA/tls/, or tlsCertFile); the login cookie is then Secure",
  },
  {
    key: 'admission',
    default: 'open',
    schema: oneOf(['open', 'approve']),
    kind: 'string',
    roles: ['primary'],
    arg: 'MODE',
    description:
      'who joins: open (the cluster token is the gate) or approve (a new node waits as pending until `picluster nodes approve ID`)',
  },
  {
    key: 'queries.fleet',
    default: '',
    schema: string({ pattern: FLEET_SELECTOR_PATTERN, maxLength: 1024 }),
    kind: 'string',
    roles: ['primary'],
    arg: 'SELECTOR',
    description:
      'nodes that may query other nodes over the cluster link: labels k=v[,k=v...] (all must match), or * for all; empty: a node queries only itself and the primary',
  },
  {
    key: 'adminToken',
    default: undefined,
    schema: optional(string({ minLength: 16, maxLength: 512 })),
    kind: 'string',
    roles: ['primary'],
    arg: 'TOKEN',
    description:
      'admin token for the web login and API when the web bind is not loopback (default: DATA/admin-token, created)',
  },
  {
    key: 'adminTokenFile',
    default: undefined,
    schema: optional(string({ minLength: 1 })),
    kind: 'string',
    roles: ['primary'],
    arg: 'FILE',
    description: 'read the admin token from FILE',
  },
  {
    key: 'clockSkewThresholdMs',
    default: DEFAULTS.clockSkewThresholdMs,
    schema: positiveMs,
    kind: 'duration',
    roles: ['primary'],
    arg: 'MS',
    description: "a node's clock further than this from the primary's is marked (clock-skew event)",
  },
  {
    key: 'disk.warnFreePercent',
    default: DEFAULTS.diskWarnFreePercent,
    schema: number({ minimum: 0, maximum: 100 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'PERCENT',
    description:
      "say the data dir's disk is nearly full below this share free (or disk.warnFreeBytes, whichever is more)",
  },
  {
    key: 'disk.warnFreeBytes',
    default: DEFAULTS.diskWarnFreeBytes,
    schema: integer({ minimum: 0 }),
    kind: 'bytes',
    roles: ['primary'],
    arg: 'BYTES',
    description: "say the data dir's disk is nearly full below this many bytes free",
  },
  {
    key: 'history.rawRetentionMs',
    default: 24 * HOUR_MS,
    schema: retentionMs,
    kind: 'duration',
    roles: ['primary'],
    arg: 'MS',
    description: 'how long raw vitals samples are kept ("24h")',
  },
  {
    key: 'history.minuteRetentionMs',
    default: 7 * 24 * HOUR_MS,
    schema: retentionMs,
    kind: 'duration',
    roles: ['primary'],
    arg: 'MS',
    description: 'how long per-minute rollups (min/avg/max) are kept ("7d")',
  },
  {
    key: 'history.hourRetentionMs',
    default: 365 * 24 * HOUR_MS,
    schema: retentionMs,
    kind: 'duration',
    roles: ['primary'],
    arg: 'MS',
    description: 'how long per-hour rollups are kept ("365d")',
  },
  {
    key: 'store',
    default: 'sqlite',
    schema: string({ pattern: '^(sqlite|postgres(ql)?://[^\\s]+)$' }),
    kind: 'string',
    roles: ['primary'],
    arg: 'STORE',
    description:
      'where the primary keeps its state: sqlite (DATA/primary.db), or a PostgreSQL URL postgres://USER:PASSWORD@HOST:PORT/DB shared by HA primaries (prefer PICLUSTER_STORE: flags show in ps)',
  },
  {
    key: 'ha.etcd',
    default: undefined,
    schema: optional(array(string({ pattern: '^https?://[^\\s/]+/?$' }), { minItems: 1 })),
    kind: 'list',
    roles: ['primary'],
    arg: 'URL[,...]',
    description:
      'HA: etcd client URLs; every primary campaigns, the leader serves the nodes, the others stand by (needs a PostgreSQL store)',
  },
  {
    key: 'ha.ttlMs',
    default: 5000,
    schema: integer({ minimum: 1000, maximum: 60_000 }),
    kind: 'duration',
    roles: ['primary'],
    arg: 'MS',
    description: 'HA: lease TTL (whole seconds): a dead leader is replaced within about twice this',
  },
  {
    key: 'ha.advertise',
    default: undefined,
    schema: optional(string({ pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^\\s:\\[\\]]+):[0-9]{1,5}$' })),
    kind: 'string',
    roles: ['primary'],
    arg: 'HOST:PORT',
    description:
      'HA: the cluster address nodes are sent to when this primary leads (default: the bind address, or the host name, and the port)',
  },
  {
    key: 'ha.name',
    default: undefined,
    schema: optional(string({ minLength: 1, maxLength: 64 })),
    kind: 'string',
    roles: ['primary'],
    arg: 'NAME',
    description: "HA: this primary's name as the leader shown by status and /metrics (default: the host name)",
  },
  {
    key: 'influx.url',
    default: undefined,
    schema: optional(url),
    kind: 'string',
    roles: ['primary'],
    arg: 'URL',
    description: 'also write vitals to this InfluxDB 1.x (off when not set)',
  },
  {
    key: 'influx.layout',
    default: 'native',
    schema: oneOf(['native', 'legacy']),
    kind: 'string',
    roles: ['primary'],
    arg: 'LAYOUT',
    description: "native, or legacy: the original cluster's database, measurements and tags",
  },
  {
    key: 'influx.database',
    default: 'picluster',
    schema: string({ minLength: 1, maxLength: 64 }),
    kind: 'string',
    roles: ['primary'],
    arg: 'NAME',
    description: 'InfluxDB database (native layout)',
  },
  {
    key: 'influx.legacyPrefix',
    default: 'rpi_cluster_',
    schema: string({ maxLength: 64 }),
    kind: 'string',
    roles: ['primary'],
    arg: 'PREFIX',
    description: 'database prefix of the legacy layout (PREFIXnode_vitals)',
  },
  {
    key: 'api',
    default: DEFAULTS.api,
    schema: url,
    kind: 'string',
    roles: ['status'],
    arg: 'URL',
    description: 'URL of the primary API',
  },
  {
    key: 'apiToken',
    default: undefined,
    schema: optional(string({ minLength: 1 })),
    kind: 'string',
    roles: ['status'],
    arg: 'TOKEN',
    description: 'admin token for the API (off loopback)',
  },
  {
    key: 'logLevel',
    default: 'info',
    schema: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    kind: 'string',
    roles: ['primary', 'secondary'],
    arg: 'LEVEL',
    description: 'log level',
  },
  ...TASK_SETTINGS,
];

/** `heartbeat.intervalMs` → `PICLUSTER_HEARTBEAT_INTERVAL_MS`. */
export function envNameOf(key: string): string {
  return `PICLUSTER_${key
    .replace(/\./g, '_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase()}`;
}

/** `heartbeat.intervalMs` → `--heartbeat-interval-ms`. */
export function flagOf(key: string): string {
  return `--${key
    .replace(/\./g, '-')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()}`;
}

/** The flag as typed: `--web-port <PORT>`; a boolean on by default is turned off by `--no-<flag>`. */
export function usageOf(s: Setting): string {
  if (s.kind !== 'boolean') return `${flagOf(s.key)} <${s.arg ?? 'VALUE'}>`;
  return s.default === true ? `--no-${flagOf(s.key).slice(2)}` : flagOf(s.key);
}

/** `heartbeat.intervalMs` → `heartbeatIntervalMs` (commander's option name for the flag). */
export function optionNameOf(key: string): string {
  return key.replace(/\.([a-z])/g, (_, c: string) => c.toUpperCase());
}
