// `picluster status`: reads GET /api/nodes from the primary's API and prints a table (or JSON).

import type { NodeView } from '../primary/registry.js';
import { ApiCallError, callApi, printable, textTable } from './api-client.js';
import type { Config } from './config.js';

export async function runStatus(config: Config, options: { json: boolean }): Promise<number> {
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

export function formatTable(nodes: NodeView[], now = Date.now()): string {
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
    printable(n.id),
  ]);
  const header = ['NAME', 'STATE', 'ADDRESS', 'CPU', 'TEMP', 'RAM', 'LOAD1', 'LAST SEEN', 'ID'];
  return `${nodes.length} nodes, ${online} online\n${textTable(header, rows)}`;
}
