// `picluster events [--node ID] [--limit N] [--follow] [--json]`: the primary's events log, oldest
// of the page first, then (with --follow) new events as they are stored, from the live stream.

import { setTimeout as sleep } from 'node:timers/promises';
import { callApi, printable, textTable, timeOf } from './api-client.js';
import type { Config } from './config.js';
import { reportErrors } from './tasks.js';
import { followStream, inStateColour, type StreamMessage, StreamRefused, untilInterrupted } from './watch.js';

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
    const tty = process.stdout.isTTY === true && !options.json;
    const names = new Map<string, string>();
    const seen = new Set<number>();
    const print = (event: EventRow) => {
      if (seen.has(event.id) || (options.node && event.node !== options.node)) return;
      seen.add(event.id);
      process.stdout.write(options.json ? `${JSON.stringify(event)}\n` : `${lineOf(event, names, tty).join('  ')}\n`);
    };
    const page = async (limit: string) => {
      query.set('limit', limit);
      return (await callApi<{ events: EventRow[] }>(config, 'GET', `/api/events?${query}`)).events;
    };
    // Following: the stream is open before the page is read, so nothing stored in between is
    // missed (what both carry is printed once); what it brings meanwhile waits for the page.
    const stop = new AbortController();
    const waiting: StreamMessage[] | undefined = options.follow ? [] : undefined;
    let opened: () => void = () => undefined;
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const onMessage = (message: StreamMessage) => {
      if (waiting && waiting !== drained) {
        waiting.push(message);
        return;
      }
      if (message.event === 'node') {
        const node = JSON.parse(message.data) as { id: string; name: string };
        names.set(node.id, node.name);
      } else if (message.event === 'event') print(JSON.parse(message.data) as EventRow);
      else if (message.event === 'reset') {
        // Too much was missed for the stream to give back: the log has it.
        void page('500').then(
          (events) => [...events].reverse().forEach(print),
          () => undefined,
        );
      }
    };
    let drained: StreamMessage[] | undefined;
    const following = options.follow
      ? followStream(
          config,
          onMessage,
          stop.signal,
          (why) => process.stderr.write(`picluster: ${why}; reconnecting\n`),
          opened,
        )
      : Promise.resolve();
    if (options.follow) await Promise.race([open, following, sleep(5000, undefined, { ref: false })]);
    const [events, { nodes }] = await Promise.all([
      page(String(options.limit ?? 50)),
      callApi<{ nodes: Array<{ id: string; name: string }> }>(config, 'GET', '/api/nodes'),
    ]);
    for (const n of nodes) names.set(n.id, n.name);
    const oldestFirst = [...events].reverse();
    if (options.json && !options.follow) process.stdout.write(`${JSON.stringify({ events }, null, 2)}\n`);
    else if (options.json) oldestFirst.forEach(print);
    else if (oldestFirst.length === 0 && !options.follow) process.stdout.write('no events\n');
    else {
      // Column widths are fixed by the page; followed events are written in the same columns.
      const header = ['TIME (UTC)', 'NODE', 'TYPE', 'DETAILS'];
      for (const e of oldestFirst) seen.add(e.id);
      process.stdout.write(
        textTable(
          header,
          oldestFirst.map((e) => lineOf(e, names, false)),
        ),
      );
    }
    if (!options.follow || !waiting) return 0;
    drained = waiting;
    for (const message of waiting.splice(0)) onMessage(message);
    // Ctrl-C ends it (exit 0); a primary that refuses the stream ends it too (exit 1, said why).
    const refused = following.then(
      () => 0,
      (err: unknown) => {
        if (!(err instanceof StreamRefused)) throw err;
        process.stderr.write(`picluster: the primary refused the live stream (${err.message})\n`);
        return 1;
      },
    );
    const code = await Promise.race([untilInterrupted().then(() => 0), refused]);
    stop.abort();
    await following.catch(() => undefined);
    return code;
  });
}
