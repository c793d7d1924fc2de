// Runs the daemons of `picluster primary`, `secondary` and `up`: builds them from the config,
// starts them in order, and on SIGINT/SIGTERM stops them in reverse order (a secondary says
// goodbye and flushes its outbox; the primary closes links and flushes storage), then exits 0.
// A primary that stops by itself (fenced off its shared store) stops the rest too, then exit 1.

import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import type pino from 'pino';
import type { Primary, PrimaryOptions } from '../primary/primary.js';
import { ConfigError } from '../protocol/errors.js';
import type { SecondaryTlsOptions } from '../secondary/primary-trust.js';
import type { Config } from './config.js';
import { createLogger } from './logger.js';
import { loadTaskPlugins } from './task-plugins.js';

const STOP_TIMEOUT_MS = 10_000;

/**
 * How far V8 lets the old generation grow past what the last full GC kept, in percent. A
 * primary's heap is mostly long-lived per-node state; V8's own factor (up to 4x when allocation is
 * fast) made its RSS swing between 15 and 27 KiB per node at 10,000 nodes; at 50 % it stays at
 * 15-16 with no more CPU (BENCHMARKS.md, Scale). A value given to node itself wins.
 */
const PRIMARY_HEAP_GROWING_PERCENT = 50;

function tuneHeapForPrimary(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('heap-growing-percent'));
  // Read by V8 at every full GC, so setting it now takes effect from the next one.
  if (!given) setFlagsFromString(`--heap-growing-percent=${PRIMARY_HEAP_GROWING_PERCENT}`);
}

export interface DaemonRoles {
  primary: boolean;
  secondary: boolean;
  version: string;
}

export async function runDaemons(config: Config, roles: DaemonRoles): Promise<void> {
  // Everything the daemons create (database, WAL, tokens, keys, outbox) is theirs alone.
  process.umask(0o077);
  const log = createLogger(config.logLevel);
  const stops: Array<() => Promise<void>> = [];
  let primary: Primary | undefined;
  try {
    if (roles.primary) {
      tuneHeapForPrimary();
      // Loaded only where needed: a secondary on a Pi Zero must not carry SQLite, hono and
      // prom-client in its memory (measured: the agent's RSS target is 60 MB).
      const { Primary } = await import('../primary/primary.js');
      const { startWebServer } = await import('../web/server.js');
      const options = await primaryOptionsOf(config, roles.version, log);
      if (config.ha) {
        if (roles.secondary)
          throw new ConfigError('ha.etcd: HA is for `picluster primary`; run the nodes with `picluster secondary`');
        const { runHaPrimary } = await import('./run-ha-primary.js');
        stops.unshift(await runHaPrimary(config, { ...options, ha: config.ha }, log));
      } else {
        primary = new Primary(options);
        // A first start makes the cluster token: then the operator at the terminal gets a join line.
        const firstStart = config.token === undefined && !existsSync(config.tokenFile ?? join(config.dataDir, 'token'));
        await primary.start();
        const started = primary;
        stops.unshift(() => started.stop());
        const web = await startWebServer(primary, {
          port: config.webPort,
          bind: config.webBind,
          adminToken: config.adminToken,
          maxStreams: config.maxStreams,
          tls: config.webTls ? await webTlsOf(primary, config, log) : undefined,
          logger: log.child({ role: 'web' }),
        });
        stops.unshift(() => web.close());
        log.info(
          { api: `http://${config.webBind}:${web.port}/api/nodes` },
          `picluster ${roles.version} primary up; see the nodes with: picluster status`,
        );
        if (firstStart) printFirstJoinLine(primary, config);
      }
    }
    if (roles.secondary) {
      const { Secondary } = await import('../secondary/secondary.js');
      const local = primary !== undefined;
      const listenHost = config.bind === '0.0.0.0' || config.bind === '::' ? '127.0.0.1' : config.bind;
      const secondary = new Secondary({
        primary: local ? [{ host: listenHost, port: (primary as Primary).port }] : (config.primary ?? []).join(','),
        // `up` keeps its local node's files beside the primary's.
        dataDir: local ? join(config.dataDir, 'local-node') : config.dataDir,
        name: config.name,
        labels: config.labels,
        token: local ? (primary as Primary).token : config.token,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        handshakeTimeoutMs: config.handshakeTimeoutMs,
        vitalsPeriodMs: config.vitalsPeriodMs,
        reconnect: { initialDelayMs: config.reconnectInitialDelayMs, maxDelayMs: config.reconnectMaxDelayMs },
        outboxMaxSamples: config.outboxMaxSamples,
        tasks: config.tasks,
        // `up` pins its own primary's certificate; a separate node trusts what it is told to.
        tls: local ? secondaryTlsOf(primary as Primary) : secondaryTlsOf(config),
        version: roles.version,
        logger: log.child({ role: 'secondary' }),
      });
      await loadTaskPlugins(secondary, config.taskPlugins);
      await secondary.start();
      stops.unshift(() => secondary.stop('shutdown'));
      log.info({ nodeId: secondary.nodeId, name: secondary.name }, 'secondary started');
    }
  } catch (err) {
    log.fatal({ err }, `cannot start: ${(err as Error).message}`);
    for (const stop of stops) await stop().catch(() => undefined);
    // A bad setting found only at start (a plugin file that does not load) is a usage error too.
    process.exitCode = err instanceof ConfigError ? 2 : 1;
    return;
  }
  const signalled = await Promise.race([waitForSignal(log).then(() => true), stoppedByItself(primary)]);
  if (!signalled) {
    log.fatal({}, 'the primary stopped (see above); stopping');
    process.exitCode = 1;
  }
  const timer = setTimeout(() => {
    log.error({}, `shutdown took longer than ${STOP_TIMEOUT_MS} ms; exiting`);
    process.exit(1);
  }, STOP_TIMEOUT_MS);
  timer.unref();
  for (const stop of stops) {
    try {
      await stop();
    } catch (err) {
      log.error({ err }, 'error while stopping');
      process.exitCode = 1;
    }
  }
  clearTimeout(timer);
  log.info({}, 'stopped');
}

/** The Primary's options from the config (the store: SQLite, or PostgreSQL when \`store\` is a URL). */
async function primaryOptionsOf(config: Config, version: string, log: pino.Logger): Promise<PrimaryOptions> {
  const store =
    config.store === 'sqlite'
      ? undefined
      : (await import('../store/postgres/open.js')).postgresStoreFactory(config.store);
  return {
    dataDir: config.dataDir,
    port: config.port,
    bind: config.bind,
    // A token from a file is the primary's to read, and to rewrite when it rotates.
    token: config.tokenFile === undefined ? config.token : undefined,
    tokenFile: config.tokenFile,
    admission: config.admission,
    fleetQueries: config.fleetQueries,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    maxFrameBytes: config.maxFrameBytes,
    maxConnections: config.maxConnections,
    maxHandshakes: config.maxHandshakes,
    limits: config.limits,
    legacy: config.legacy,
    legacyAllow: config.legacyAllow,
    legacyMaxConnections: config.legacyMaxConnections,
    legacyMaxNodes: config.legacyMaxNodes,
    legacyIdleMs: config.legacyIdleMs,
    clockSkewThresholdMs: config.clockSkewThresholdMs,
    vitalsCommitMs: config.vitalsCommitMs,
    tasksPerNode: config.taskScheduling.perNode,
    taskTimeoutMs: config.taskScheduling.timeoutMs,
    taskTtlMs: config.taskScheduling.ttlMs,
    diskWarn: config.diskWarn,
    tls: config.tls && {
      certFile: config.tlsCertFile,
      keyFile: config.tlsKeyFile,
      clientCaFile: config.tlsClientCaFile,
    },
    retention: config.history,
    influx: config.influx,
    alerts: config.alerts,
    version: version,
    logger: log.child({ role: 'primary' }),
    store,
  };
}

/**
 * The web port's certificate: the cluster port's (the same identity, one fingerprint to check), or,
 * with TLS off on the cluster port, the one in DATA/tls/ (made now if missing) or tlsCertFile's.
 */
export async function webTlsOf(
  primary: Pick<Primary, 'tlsCredentials' | 'primaryId'>,
  config: Config,
  log: pino.Logger,
): Promise<{ cert: string; key: string }> {
  if (primary.tlsCredentials) return primary.tlsCredentials;
  const { loadOrCreateTlsIdentity } = await import('../primary/tls-identity.js');
  const files = { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile };
  const identity = await loadOrCreateTlsIdentity(config.dataDir, files, primary.primaryId, log);
  return { cert: identity.cert, key: identity.key };
}

/**
 * At a first start, on a terminal only: the exact line that joins a node, with a join code (one
 * node, within an hour). Written to the terminal, never to the log: a code is a secret, and logs
 * (the journal) are read by more people. `picluster join-command` prints more of them.
 */
function printFirstJoinLine(primary: Primary, config: Config): void {
  if (!process.stderr.isTTY) return;
  const { code } = primary.joinCodes.create({ ttlMs: 3_600_000, uses: 1 });
  const wildcard = ['0.0.0.0', '::', ''].includes(config.bind);
  const host = wildcard ? hostname() : config.bind.includes(':') ? `[${config.bind}]` : config.bind;
  const trust = primary.tlsFingerprint ? `--primary-fingerprint ${primary.tlsFingerprint}` : '--no-tls';
  process.stderr.write(
    `\nTo join a node, run this on it (good for one node within an hour; picluster join-command makes more):\n\n  picluster secondary --primary ${host}:${primary.port} ${trust} --token ${code}\n\n`,
  );
}

/** How a secondary trusts its primary: the local primary's own fingerprint, or the node's settings. */
function secondaryTlsOf(from: Primary | Config): SecondaryTlsOptions | false {
  if ('tlsFingerprint' in from) return from.tlsFingerprint === undefined ? false : { fingerprint: from.tlsFingerprint };
  if (!from.tls) return false;
  return {
    fingerprint: from.primaryFingerprint,
    caFile: from.tlsCaFile,
    trustFirstUse: from.trustFirstUse,
    certFile: from.tlsCertFile,
    keyFile: from.tlsKeyFile,
  };
}

/** Resolves false when `primary` stops without being told to (never without one). */
function stoppedByItself(primary: Primary | undefined): Promise<false> {
  return new Promise((resolve) => {
    primary?.on('state', (state) => {
      if (state === 'stopped') resolve(false);
    });
  });
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
function waitForSignal(log: pino.Logger): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'stopping');
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
