// `picluster primary` with `ha.etcd` (issue 17): one primary of several, campaigning through etcd.
// Its web port runs from the start, on a standby too: the dashboard, `status` and /metrics say who
// leads, and the API answers 503 ERR_NOT_LEADER naming the leader while this one stands by.

import type pino from 'pino';
import { type HaOptions, HaPrimary } from '../primary/leadership/ha-primary.js';
import type { PrimaryOptions } from '../primary/primary.js';
import type { Config } from './config.js';
import { webTlsOf } from './run-daemons.js';

/** Starts the HA primary and its web server; returns what stops both (web first). */
export async function runHaPrimary(
  config: Config,
  options: PrimaryOptions & { ha: HaOptions },
  log: pino.Logger,
): Promise<() => Promise<void>> {
  const { startWebServer } = await import('../web/server.js');
  const primary = new HaPrimary(options);
  await primary.start();
  let web: Awaited<ReturnType<typeof startWebServer>>;
  try {
    // The cluster port's identity (DATA/tls/, shared by every primary of the cluster) or the files given.
    const tls = config.webTls ? await webTlsOf(primary, config, log) : undefined;
    web = await startWebServer(primary, {
      port: config.webPort,
      bind: config.webBind,
      adminToken: config.adminToken,
      maxStreams: config.maxStreams,
      tls,
      logger: log.child({ role: 'web' }),
    });
  } catch (err) {
    await primary.stop();
    throw err;
  }
  log.info(
    { api: `http://${config.webBind}:${web.port}/api/leadership`, etcd: options.ha.etcd },
    'picluster HA primary up; see who leads with: picluster status',
  );
  return async () => {
    await web.close();
    await primary.stop();
  };
}
