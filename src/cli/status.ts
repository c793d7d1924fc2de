// `picluster status`: reads GET /api/nodes from the primary's API and prints a table (or JSON);
// with --watch, again every interval until Ctrl-C, redrawn in place with state colours on a terminal.

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
  let body: { nodes: NodeView[] };
  try {
    body = await callApi<{ nodes: NodeView[] }>(config, 'GET', '/api/nodes');
  } catch (err) {
    if (!(err instanceof ApiCallError)) throw err;
    process.stderr.write(`picluster: ${err.message}\n`);
    return 1;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(formatTable(body.nodes));
  return 0;
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
