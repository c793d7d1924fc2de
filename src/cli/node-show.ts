// `picluster nodes show ID|NAME`: one node in full (machine, vitals now, clock, version), its open
// alerts and its latest events, from the primary's API. Text from the node only through printable().

import type { NodeView } from '../protocol/node-view.js';
import type { AlertRow } from '../store/store-api.js';
import { ApiCallError, callApi, printable, textTable, timeOf } from './api-client.js';
import type { Config } from './config.js';
import { reportErrors } from './tasks.js';

const GiB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;
const utc = (ms: number | null | undefined) => (typeof ms === 'number' ? `${timeOf(ms)} UTC` : '-');

/** The node whose id (or, failing that, whose one name) is `which`. */
async function findNode(config: Config, which: string): Promise<NodeView> {
  const { nodes } = await callApi<{ nodes: NodeView[] }>(config, 'GET', '/api/nodes');
  const byId = nodes.find((n) => n.id === which);
  if (byId) return byId;
  const named = nodes.filter((n) => n.name === which);
  if (named.length === 1) return named[0] as NodeView;
  if (named.length > 1) {
    throw new ApiCallError(
      `${named.length} nodes are named ${printable(which)}: give an id (${named.map((n) => n.id).join(', ')})`,
    );
  }
  throw new ApiCallError(`no node with id or name ${printable(which)} (picluster status lists them)`);
}

export function formatNode(
  node: NodeView,
  alerts: readonly AlertRow[],
  events: ReadonlyArray<Record<string, unknown>>,
): string {
  const v = node.vitals;
  const i = node.info;
  const fields: Array<[string, string]> = [
    ['name', printable(node.name)],
    ['id', node.id],
    ['state', node.state],
    [
      'labels',
      Object.entries(node.labels)
        .map(([k, val]) => printable(`${k}=${val}`))
        .join(',') || '-',
    ],
    ['address', printable(node.address ?? '-')],
    ['version', printable(i?.version ?? '-')],
    [
      'machine',
      i ? printable(`${i.hostname}: ${i.os}, kernel ${i.kernel}, ${i.arch}${i.board ? `, ${i.board}` : ''}`) : '-',
    ],
    ['cpu', i ? printable(`${i.cpuModel}, ${i.cpuCores} cores`) : '-'],
    ['connected since', utc(node.connectedSince)],
    ['last seen', utc(node.lastSeen)],
    ['clock', node.clockSkewMs === null ? '-' : `${Math.round(node.clockSkewMs)} ms off the primary's`],
  ];
  if (v) {
    fields.push(
      ['cpu now', `${v.cpuPercent.toFixed(1)} %${v.cpuMhz ? ` at ${Math.round(v.cpuMhz)} MHz` : ''}`],
      ['temperature', v.tempC === undefined ? '-' : `${v.tempC.toFixed(1)} °C`],
      ['ram available', `${gib(v.ramAvailableBytes)}${i ? ` of ${gib(i.ramTotalBytes)}` : ''}`],
      ['load', typeof v.load1 === 'number' ? `${v.load1} ${v.load5} ${v.load15}` : '-'],
      ...(v.disks ?? []).map((d): [string, string] => [
        `disk ${printable(d.mount)}`,
        `${gib(d.freeBytes)} free of ${gib(d.totalBytes)}`,
      ]),
      [
        'throttled',
        v.throttled
          ? `now: ${v.throttled.now.join(',') || 'no'}; since boot: ${v.throttled.sinceBoot.join(',') || 'no'}`
          : '-',
      ],
      ['sample', `#${v.seq}, received ${utc(v.receivedAt)}`],
    );
  }
  const width = Math.max(...fields.map(([k]) => k.length));
  let text = fields.map(([k, val]) => `${k.padEnd(width)}  ${val}\n`).join('');
  text += `\nopen alerts: ${alerts.length === 0 ? 'none' : ''}\n`;
  for (const a of alerts)
    text += `  ${a.state} ${a.severity} ${printable(a.rule)}: ${printable(a.detail)} (since ${utc(a.since)})\n`;
  const rows = [...events].reverse().map((e) => [utc(e.ts as number), printable(String(e.type))]);
  text += `\nlatest events:\n${rows.length === 0 ? '  none\n' : textTable(['TIME', 'TYPE'], rows)}`;
  return text;
}

export async function runNodeShow(config: Config, which: string, options: { json: boolean }): Promise<number> {
  return reportErrors(async () => {
    const node = await findNode(config, which);
    const id = encodeURIComponent(node.id);
    const [alerts, events] = await Promise.all([
      callApi<{ alerts: AlertRow[] }>(config, 'GET', '/api/alerts')
        .then((b) => b.alerts.filter((a) => a.node === node.id))
        // A primary without alerts (404) shows none; any other failure is said.
        .catch((err: unknown) => {
          if (err instanceof ApiCallError && / answered 404:/.test(err.message)) return [];
          throw err;
        }),
      callApi<{ events: Array<Record<string, unknown>> }>(config, 'GET', `/api/events?node=${id}&limit=10`).then(
        (b) => b.events,
      ),
    ]);
    process.stdout.write(
      options.json ? `${JSON.stringify({ node, alerts, events }, null, 2)}\n` : formatNode(node, alerts, events),
    );
    return 0;
  });
}
