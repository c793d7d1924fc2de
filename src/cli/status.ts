// `picluster status`: reads GET /api/nodes from the primary's API and prints a table (or JSON);
// with --watch, again every interval until Ctrl-C, redrawn in place with state colours on a terminal.

import type { LeadershipView } from '../primary/cluster-view.js';
import type { NodeView } from '../primary/registry.js';
import { ApiCallError, callApi, printable, textTable } from './api-client.js';
import type { Config } from './config.js';
import { inStateColour, untilInterrupted } from './watch.js';

export async function runStatus(
  config: Config,
  options: { json: boolean; watch?: boolean; intervalMs?: number },
): Promise<number> {
  if (options.watch && options.json) {
    process.stderr.write('picluster: --watch draws a table; --json gives one answer (run it in a loop for JSON)\n');
    return 2;
  }
  if (options.watch) return watchStatus(config, options.intervalMs ?? 2000);
  let body: { nodes: NodeView[]; leadership?: LeadershipView };
  const leadership = await leadershipOf(config);
  try {
    body = await callApi<{ nodes: NodeView[] }>(config, 'GET', '/api/nodes');
  } catch (err) {
    if (!(err instanceof ApiCallError)) throw err;
    if (leadership && !options.json) process.stdout.write(formatLeadership(leadership));
    process.stderr.write(`picluster: ${err.message}\n`);
    return 1;
  }
  if (leadership) body = { ...body, leadership };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  process.stdout.write((leadership ? formatLeadership(leadership) : '') + formatTable(body.nodes));
  return 0;
}

/** Who leads, on a primary of an HA cluster; undefined on a single primary (or one that predates HA). */
async function leadershipOf(config: Config): Promise<LeadershipView | undefined> {
  try {
    const body = await callApi<{ leadership?: LeadershipView | null }>(config, 'GET', '/api/leadership');
    return body.leadership ?? undefined;
  } catch {
    return undefined;
  }
}

/** One line on who leads: plainly, when nobody can. */
export function formatLeadership(ha: LeadershipView, now = Date.now()): string {
  const self = `${printable(ha.self.name)} (${printable(ha.self.address)})`;
  const leader = ha.leader;
  const since = (at: number) => `${Math.max(0, Math.round((now - at) / 1000))}s`;
  if (ha.state === 'no-quorum')
    return `HA: NO PRIMARY LEADS: ${self} cannot reach an etcd quorum; nodes are not served until one is back\n`;
  if (ha.state === 'leader' && leader)
    return `HA: this primary ${self} leads, epoch ${leader.epoch}, for ${since(leader.since)}\n`;
  if (!leader) return `HA: standby ${self}; no leader elected yet\n`;
  return `HA: standby ${self}; the leader is ${printable(leader.name)} at ${printable(leader.address)}, epoch ${leader.epoch}, for ${since(leader.since)}\n`;
}

async function watchStatus(config: Config, intervalMs: number): Promise<number> {
  const tty = process.stdout.isTTY === true;
  let stopped = false;
  const interrupted = untilInterrupted().then(() => {
    stopped = true;
  });
  while (!stopped) {
    let screen: string;
    try {
      const body = await callApi<{ nodes: NodeView[] }>(config, 'GET', '/api/nodes');
      screen = formatTable(body.nodes, Date.now(), tty);
    } catch (err) {
      if (!(err instanceof ApiCallError)) throw err;
      // Kept watching: the primary may be restarting.
      screen = `${err.message}\n`;
    }
    const title = `picluster status, every ${intervalMs / 1000} s, ${new Date().toISOString().slice(11, 19)} UTC (Ctrl-C to stop)\n`;
    // On a terminal the screen is redrawn in place; piped, each reading follows the last.
    process.stdout.write(tty ? `\x1b[H\x1b[2J${title}${screen}` : `${title}${screen}\n`);
    let timer: NodeJS.Timeout | undefined;
    // Ctrl-C ends the wait at once, not at the end of the interval.
    await Promise.race([interrupted, new Promise((resolve) => (timer = setTimeout(resolve, intervalMs)))]);
    clearTimeout(timer);
  }
  return 0;
}

export function formatTable(nodes: NodeView[], now = Date.now(), tty = false): string {
  const online = nodes.filter((n) => n.state === 'online').length;
  // Names, labels and addresses come from the nodes: nothing of theirs reaches the terminal raw.
  const rows = nodes.map((n) => [
    printable(n.name),
    n.state,
    printable(n.address ?? '-'),
    n.vitals ? `${n.vitals.cpuPercent.toFixed(1)}%` : '-',
    n.vitals?.tempC !== undefined ? `${n.vitals.tempC.toFixed(1)}°C` : '-',
    n.vitals && n.info
      ? `${Math.round((100 * (n.info.ramTotalBytes - n.vitals.ramAvailableBytes)) / Math.max(1, n.info.ramTotalBytes))}%`
      : '-',
    typeof n.vitals?.load1 === 'number' ? n.vitals.load1.toFixed(2) : '-',
    `${Math.max(0, Math.round((now - n.lastSeen) / 1000))}s ago`,
    printable(n.info?.version ?? '-'),
    printable(n.id),
  ]);
  const header = ['NAME', 'STATE', 'ADDRESS', 'CPU', 'TEMP', 'RAM', 'LOAD1', 'LAST SEEN', 'VERSION', 'ID'];
  const [head, ...lines] = textTable(header, rows).split('\n');
  // A node's whole line in its state's colour: the columns keep their widths.
  const coloured = lines.map((line, i) => (nodes[i] ? inStateColour(nodes[i].state, line, tty) : line));
  return `${nodes.length} nodes, ${online} online\n${[head, ...coloured].join('\n')}`;
}
