// `picluster events [--node ID] [--limit N] [--follow] [--json]`: the primary's events log, oldest
// of the page first, then (with --follow) new events as they are stored, from the live stream.

import { callApi, printable, textTable } from './api-client.js';
import type { Config } from './config.js';
import { reportErrors } from './tasks.js';
import { followStream, inStateColour, untilInterrupted } from './watch.js';

interface EventRow {
  id: number;
  ts: number;
  node: string | null;
  type: string;
  [field: string]: unknown;
}

export interface EventsOptions {
  node?: string;
  limit?: number;
  follow: boolean;
  json: boolean;
}

const timeOf = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

/** What else an event carries, as `key=value` (names and addresses through printable()). */
function detailsOf(event: EventRow): string {
  return Object.entries(event)
    .filter(([key]) => !['id', 'ts', 'node', 'type'].includes(key))
    .map(([key, value]) => `${key}=${printable(typeof value === 'string' ? value : JSON.stringify(value))}`)
    .join(' ');
}

function lineOf(event: EventRow, names: Map<string, string>, tty: boolean): string[] {
  const node = event.node === null ? '-' : printable(names.get(event.node) ?? event.node);
  return [timeOf(event.ts), node, inStateColour(event.type, event.type, tty), detailsOf(event)];
}

export async function runEvents(config: Config, options: EventsOptions): Promise<number> {
  return reportErrors(async () => {
    const query = new URLSearchParams({ limit: String(options.limit ?? 50) });
    if (options.node) query.set('node', options.node);
    const [{ events }, { nodes }] = await Promise.all([
      callApi<{ events: EventRow[] }>(config, 'GET', `/api/events?${query}`),
      callApi<{ nodes: Array<{ id: string; name: string }> }>(config, 'GET', '/api/nodes'),
    ]);
    const names = new Map(nodes.map((n) => [n.id, n.name]));
    const tty = process.stdout.isTTY === true && !options.json;
    const oldestFirst = [...events].reverse();
    if (options.json && !options.follow) process.stdout.write(`${JSON.stringify({ events }, null, 2)}\n`);
    else if (options.json) for (const e of oldestFirst) process.stdout.write(`${JSON.stringify(e)}\n`);
    else if (oldestFirst.length === 0 && !options.follow) process.stdout.write('no events\n');
    else {
      // Column widths are fixed by the page; followed events are written in the same columns.
      const header = ['TIME (UTC)', 'NODE', 'TYPE', 'DETAILS'];
      process.stdout.write(
        textTable(
          header,
          oldestFirst.map((e) => lineOf(e, names, false)),
        ),
      );
    }
    if (!options.follow) return 0;
    const stop = new AbortController();
    const seen = new Set(events.map((e) => e.id));
    const following = followStream(
      config,
      (message) => {
        if (message.event === 'node') {
          const node = JSON.parse(message.data) as { id: string; name: string };
          names.set(node.id, node.name);
          return;
        }
        if (message.event !== 'event') return;
        const event = JSON.parse(message.data) as EventRow;
        if (seen.has(event.id) || (options.node && event.node !== options.node)) return;
        seen.add(event.id);
        process.stdout.write(options.json ? `${JSON.stringify(event)}\n` : `${lineOf(event, names, tty).join('  ')}\n`);
      },
      stop.signal,
      (why) => process.stderr.write(`picluster: ${why}; reconnecting\n`),
    );
    await untilInterrupted();
    stop.abort();
    await following;
    return 0;
  });
}
