// `picluster status`: reads GET /api/nodes from the primary's API and prints a table (or JSON).

import type { NodeView } from '../primary/registry.js';
import type { Config } from './config.js';

export async function runStatus(config: Config, options: { json: boolean }): Promise<number> {
  const url = new URL('/api/nodes', config.api);
  let body: { nodes: NodeView[] };
  try {
    const response = await fetch(url, {
      headers: config.apiToken ? { authorization: `Bearer ${config.apiToken}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) {
      process.stderr.write(`picluster: ${url} answered ${response.status}: ${await response.text()}\n`);
      return 1;
    }
    body = (await response.json()) as { nodes: NodeView[] };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    process.stderr.write(
      `picluster: cannot reach the primary API at ${url} (${cause}): is the primary running? (--api URL)\n`,
    );
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
  const rows = nodes.map((n) => [
    n.name,
    n.state,
    n.address ?? '-',
    n.vitals ? `${n.vitals.cpuPercent.toFixed(1)}%` : '-',
    n.vitals?.tempC !== undefined ? `${n.vitals.tempC.toFixed(1)}°C` : '-',
    n.vitals && n.info
      ? `${Math.round((100 * (n.info.ramTotalBytes - n.vitals.ramAvailableBytes)) / Math.max(1, n.info.ramTotalBytes))}%`
      : '-',
    typeof n.vitals?.load1 === 'number' ? n.vitals.load1.toFixed(2) : '-',
    `${Math.max(0, Math.round((now - n.lastSeen) / 1000))}s ago`,
    n.id,
  ]);
  const header = ['NAME', 'STATE', 'ADDRESS', 'CPU', 'TEMP', 'RAM', 'LOAD1', 'LAST SEEN', 'ID'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    `${cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd()}\n`;
  return `${nodes.length} nodes, ${online} online\n${line(header)}${rows.map(line).join('')}`;
}
