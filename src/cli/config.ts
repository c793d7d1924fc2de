// Configuration: defaults < TOML file (--config / PICLUSTER_CONFIG) < PICLUSTER_* environment <
// flags. Every value is validated once, and a bad one fails with one line naming the key, the
// value and where it came from (exit 2 in the CLI).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AlertsConfig } from '../alerts/alerts-config.js';
import { parseDuration } from '../common/duration.js';
import { AddressRanges } from '../primary/address-ranges.js';
import type { PeerLimits } from '../primary/primary-options.js';
import { checkedToken } from '../protocol/auth.js';
import { ConfigError } from '../protocol/errors.js';
import { LABELS_RULE } from '../protocol/messages.js';
import { firstIssue } from '../protocol/schema-issue.js';
import { parsePrimaries } from '../secondary/primary-address.js';
import { SETTING_CHECKS } from './generated/setting-checks.js';
import { envNameOf, flagOf, optionNameOf, type Role, SETTINGS, type Setting } from './settings.js';

export interface Config {
  dataDir: string;
  token: string | undefined;
  /** Where the token was read from (then the primary rewrites it there when the token rotates). */
  tokenFile: string | undefined;
  admission: 'open' | 'approve';
  maxStreams: number;
  webTls: boolean;
  fleetQueries: string;
  bind: string;
  port: number;
  webBind: string;
  webPort: number;
  legacy: boolean;
  legacyAllow: readonly string[];
  legacyMaxConnections: number;
  legacyMaxNodes: number;
  legacyIdleMs: number;
  limits: PeerLimits;
  primary: string[] | undefined;
  name: string | undefined;
  labels: Record<string, string>;
  heartbeatIntervalMs: number;
  handshakeTimeoutMs: number;
  vitalsPeriodMs: number;
  /** The primary's longest commit window for vitals (vitals.commitMs). */
  vitalsCommitMs: number;
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
  outboxMaxSamples: number;
  maxFrameBytes: number;
  maxConnections: number;
  maxHandshakes: number;
  adminToken: string | undefined;
  clockSkewThresholdMs: number;
  tls: boolean;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  tlsClientCaFile: string | undefined;
  tlsCaFile: string | undefined;
  primaryFingerprint: string | undefined;
  trustFirstUse: boolean;
  diskWarn: { freePercent: number; freeBytes: number };
  history: { rawMs: number; minuteMs: number; hourMs: number };
  influx: { url: string; layout: 'native' | 'legacy'; database: string; legacyPrefix: string } | undefined;
  /** 'sqlite', or a PostgreSQL URL (a secret: its password is never logged). */
  store: string;
  /** HA (issue 17): etcd endpoints and the election's settings; undefined for a single primary. */
  ha: { etcd: string[]; ttlMs: number; advertise: string | undefined; name: string | undefined } | undefined;
  api: string;
  apiToken: string | undefined;
  logLevel: string;
  /** What this node lets its primary run (secondary). */
  tasks: { allow: string[]; commands: string[]; gitDir: string | undefined; maxConcurrent: number };
  /** Files of task kinds of the node's own (tasks.plugins). */
  taskPlugins: string[];
  /** The primary's side of tasks. */
  taskScheduling: { perNode: number; timeoutMs: number; ttlMs: number };
  /** The config file's [alerts] table, checked (primary only). */
  alerts: AlertsConfig | undefined;
}

export interface LoadConfigOptions {
  roles: Role[];
  /** Parsed flags as commander gives them (option names from `optionNameOf`), plus `config`. */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /**
   * Checks the config file's [alerts] table; needed with the primary role (the CLI passes
   * alerts/alerts-config.ts's alertsConfigOf, loaded only for a primary: an agent never loads the
   * alerts layer). Without it, a primary's `alerts` is undefined (the defaults) and an [alerts]
   * table is an error.
   */
  checkAlerts?: (table: unknown) => AlertsConfig;
}

export function loadConfig({ roles, flags = {}, env = process.env, checkAlerts }: LoadConfigOptions): Config {
  const values = new Map<string, unknown>();
  const sources = new Map<string, string>();
  for (const s of SETTINGS) values.set(s.key, s.default);

  const file = (flags.config as string | undefined) ?? env.PICLUSTER_CONFIG;
  let alertsTable: unknown;
  if (file) {
    for (const [key, value] of Object.entries(readConfigFile(file))) {
      if (key === 'alerts') {
        alertsTable = value;
        continue;
      }
      const setting = SETTINGS.find((s) => s.key === key);
      if (!setting) throw new ConfigError(`unknown key "${key}" in config file ${file}`);
      const where = `config file ${file}`;
      values.set(key, typeof value === 'string' ? parseText(setting, value, where) : value);
      sources.set(key, where);
    }
  }
  for (const s of SETTINGS) {
    const name = envNameOf(s.key);
    const text = env[name];
    if (text !== undefined && text !== '') {
      values.set(s.key, parseText(s, text, `environment ${name}`));
      sources.set(s.key, `environment ${name}`);
    }
  }
  for (const s of SETTINGS) {
    const raw = flags[optionNameOf(s.key)];
    // Only --no-<flag> exists for a setting on by default: commander's `true` means "not given".
    if (raw === undefined || (s.kind === 'boolean' && s.default === true && raw === true)) continue;
    const where = `flag ${flagOf(s.key)}`;
    values.set(s.key, typeof raw === 'string' ? parseText(s, raw, where) : raw);
    sources.set(s.key, where);
  }
  for (const s of SETTINGS) {
    // TypeBox's compiled check of s.schema, generated at build time (scripts/gen-validators.ts).
    const check = SETTING_CHECKS.get(s.key);
    if (check === undefined) throw new Error(`no generated check for setting ${s.key}: run scripts/gen-validators.ts`);
    if (!check(values.get(s.key))) {
      const where = sources.get(s.key) ?? 'defaults';
      const issue = firstIssue(s.schema, values.get(s.key));
      const why = s.kind === 'labels' ? LABELS_RULE : (issue?.message ?? 'rejected');
      throw new ConfigError(`invalid ${s.key} = ${shown(s.key, values.get(s.key))} (from ${where}): ${why}`);
    }
  }

  const tokenFile = values.get('tokenFile') as string | undefined;
  const tokenRead = tokenFile !== undefined && values.get('token') === undefined;
  if (tokenRead) {
    try {
      values.set('token', readFileSync(tokenFile, 'utf8').trim());
    } catch (err) {
      throw new ConfigError(
        `cannot read the token file ${tokenFile} (from ${sources.get('tokenFile')}): ${(err as Error).message}`,
      );
    }
    checkedToken(values.get('token') as string, `the token file ${tokenFile}`);
  }
  const adminTokenFile = values.get('adminTokenFile') as string | undefined;
  if (adminTokenFile && values.get('adminToken') === undefined) {
    try {
      values.set('adminToken', readFileSync(adminTokenFile, 'utf8').trim());
    } catch (err) {
      throw new ConfigError(`cannot read the admin token file ${adminTokenFile}: ${(err as Error).message}`);
    }
    checkedToken(values.get('adminToken') as string, `the admin token file ${adminTokenFile}`);
  }
  const primaries = values.get('primary') as string[] | undefined;
  if (primaries) parsePrimaries(primaries.join(',')); // one clear line for a bad address, exit 2
  new AddressRanges(values.get('legacyAllow') as string[], 'legacyAllow'); // the same for a bad range
  if (roles.includes('secondary') && roles.length === 1 && !values.get('primary')) {
    throw new ConfigError('no primary given: use --primary HOST:PORT (or PICLUSTER_PRIMARY)');
  }
  const get = <T>(key: string) => values.get(key) as T;
  // Checked only where it runs: a node's config may carry the fleet's [alerts] table, secrets unread.
  if (roles.includes('primary') && checkAlerts === undefined && alertsTable !== undefined)
    throw new Error('loadConfig: a primary config with an [alerts] table needs checkAlerts');
  const alerts = roles.includes('primary') ? checkAlerts?.(alertsTable) : undefined;
  return {
    alerts,
    dataDir: get('dataDir'),
    token: get('token'),
    tokenFile: tokenRead ? tokenFile : undefined,
    bind: get('bind'),
    port: get('port'),
    webBind: get('webBind'),
    webPort: get('webPort'),
    legacy: get('legacy'),
    primary: get('primary'),
    name: get('name'),
    labels: get('labels'),
    heartbeatIntervalMs: get('heartbeat.intervalMs'),
    handshakeTimeoutMs: get('handshake.timeoutMs'),
    vitalsPeriodMs: get('vitals.periodMs'),
    vitalsCommitMs: get('vitals.commitMs'),
    reconnectInitialDelayMs: get('reconnect.initialDelayMs'),
    reconnectMaxDelayMs: get('reconnect.maxDelayMs'),
    outboxMaxSamples: get('outbox.maxSamples'),
    maxFrameBytes: get('maxFrameBytes'),
    maxConnections: get('limits.maxConnections'),
    maxHandshakes: get('limits.maxHandshakes'),
    limits: {
      maxHandshakesPerAddress: get('limits.maxHandshakesPerAddress'),
      authFailuresPerMinute: get('limits.authFailuresPerMinute'),
      framesPerSecond: get('limits.framesPerSecond'),
      requestsPerSecond: get('limits.requestsPerSecond'),
      samplesPerSecond: get('limits.samplesPerSecond'),
      maxNodes: get('limits.maxNodes'),
      maxPendingNodes: get('limits.maxPendingNodes'),
    },
    legacyAllow: get('legacyAllow'),
    legacyMaxConnections: get('legacyMaxConnections'),
    legacyMaxNodes: get('legacyMaxNodes'),
    legacyIdleMs: get('legacyIdleMs'),
    adminToken: get('adminToken'),
    clockSkewThresholdMs: get('clockSkewThresholdMs'),
    admission: get('admission'),
    maxStreams: get('limits.maxStreams'),
    webTls: get('webTls'),
    fleetQueries: get('queries.fleet'),
    tls: get('tls'),
    tlsCertFile: get('tlsCertFile'),
    tlsKeyFile: get('tlsKeyFile'),
    tlsClientCaFile: get('tlsClientCaFile'),
    tlsCaFile: get('tlsCaFile'),
    primaryFingerprint: get('primaryFingerprint'),
    trustFirstUse: get('trustFirstUse'),
    diskWarn: { freePercent: get('disk.warnFreePercent'), freeBytes: get('disk.warnFreeBytes') },
    history: {
      rawMs: get('history.rawRetentionMs'),
      minuteMs: get('history.minuteRetentionMs'),
      hourMs: get('history.hourRetentionMs'),
    },
    influx: get<string | undefined>('influx.url')
      ? {
          url: get('influx.url'),
          layout: get('influx.layout'),
          database: get('influx.database'),
          legacyPrefix: get('influx.legacyPrefix'),
        }
      : undefined,
    store: get('store'),
    ha: get<string[] | undefined>('ha.etcd')
      ? { etcd: get('ha.etcd'), ttlMs: get('ha.ttlMs'), advertise: get('ha.advertise'), name: get('ha.name') }
      : undefined,
    api: get('api'),
    apiToken: get('apiToken'),
    logLevel: get('logLevel'),
    tasks: {
      allow: get('tasks.allow'),
      commands: get('tasks.commands'),
      gitDir: get('tasks.gitDir'),
      maxConcurrent: get('tasks.maxConcurrent'),
    },
    taskPlugins: get('tasks.plugins'),
    taskScheduling: {
      perNode: get('tasks.perNode'),
      timeoutMs: get('tasks.timeoutMs'),
      ttlMs: get('tasks.ttlMs'),
    },
  };
}

/** Reads a TOML config file into dotted keys: `[heartbeat] intervalMs = 1` → `heartbeat.intervalMs`. */
function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: Record<string, unknown>;
  try {
    // Loaded only when there is a file: most agents run on flags and env alone (RSS matters).
    const { parse } = createRequire(import.meta.url)('smol-toml') as typeof import('smol-toml');
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  const out: Record<string, unknown> = {};
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? `${prefix}.${k}` : k;
      const isTable = v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
      // Labels are free-form, and [alerts] (rules, channels) is checked whole by the alerts layer.
      if (isTable && key !== 'labels' && key !== 'alerts') walk(v as Record<string, unknown>, key);
      else out[key] = v;
    }
  };
  walk(doc, '');
  for (const [alias, key] of Object.entries(TOML_ALIASES)) {
    if (!(alias in out)) continue;
    if (key in out) throw new ConfigError(`config file ${file} sets both ${alias} and ${key}: keep one`);
    out[key] = out[alias];
    delete out[alias];
  }
  return out;
}

/**
 * TOML cannot hold `tls = false` and a `[tls]` table at once, so the TLS settings are flat keys
 * (`tls`, `tlsCertFile`, …, matching their flags) and a `[tls]` table is read as the same keys;
 * the same for `legacy` and a `[legacy]` table (`enabled`, `allow`, `maxConnections`, …).
 */
const TOML_ALIASES: Record<string, string> = {
  'tls.enabled': 'tls',
  'tls.certFile': 'tlsCertFile',
  'tls.keyFile': 'tlsKeyFile',
  'tls.clientCaFile': 'tlsClientCaFile',
  'tls.caFile': 'tlsCaFile',
  'legacy.enabled': 'legacy',
  'legacy.allow': 'legacyAllow',
  'legacy.maxConnections': 'legacyMaxConnections',
  'legacy.maxNodes': 'legacyMaxNodes',
  'legacy.idleMs': 'legacyIdleMs',
};

/** A value for an error message; secrets are never shown. */
function shown(key: string, value: unknown): string {
  // `store` may be a PostgreSQL URL with its password in it.
  return /token|secret|^store$/i.test(key) ? '(hidden)' : JSON.stringify(value);
}

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Turns the text of an env variable or flag into the setting's type. */
export function parseText(setting: Setting, text: string, where: string): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(`invalid ${setting.key} = ${shown(setting.key, text)} (from ${where}): expected ${expected}`);
  };
  const t = text.trim();
  switch (setting.kind) {
    case 'number':
      return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : fail('a number');
    case 'duration':
      return parseDuration(t) ?? fail('milliseconds, or a duration like "10s"');
    case 'bytes': {
      const m = /^(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?$/i.exec(t);
      return m
        ? Math.round(Number(m[1]) * (BYTE_UNITS[(m[2] ?? 'b').toLowerCase()] ?? 1))
        : fail('bytes, or a size like "1MiB"');
    }
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(t)) return true;
      if (/^(false|0|no|off)$/i.test(t)) return false;
      return fail('true or false');
    case 'list':
      return t
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'labels': {
      const labels: Record<string, string> = Object.create(null);
      for (const pair of t
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const eq = pair.indexOf('=');
        if (eq <= 0) fail('labels as key=value,key=value');
        const key = pair.slice(0, eq).trim();
        if (['__proto__', 'constructor', 'prototype'].includes(key)) fail('a label key other than __proto__');
        labels[key] = pair.slice(eq + 1).trim();
      }
      return { ...labels };
    }
    default:
      return t;
  }
}
