// What `status --watch` and `events --follow` share: a terminal that is redrawn or followed until
// Ctrl-C (which ends them with exit 0), and the primary's live stream read as server-sent events.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from './config.js';

/** ANSI colours for a node's state on a terminal (and none elsewhere). */
const STATE_COLOURS: Record<string, string> = {
  online: '\x1b[32m',
  lost: '\x1b[31m',
  left: '\x1b[2m',
  pending: '\x1b[33m',
  rebooting: '\x1b[33m',
  denied: '\x1b[35m',
};

/** `text` in the colour of `state` when writing to a terminal. */
export function inStateColour(state: string, text: string, tty: boolean): string {
  const colour = STATE_COLOURS[state];
  return tty && colour ? `${colour}${text}\x1b[0m` : text;
}

/** Resolves on Ctrl-C (SIGINT) or SIGTERM: the watch ends with exit 0. */
export function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

export interface StreamMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * Follows GET /api/stream: each message to `onMessage`, until `signal` aborts. A dropped stream
 * is resumed after a second with Last-Event-ID (`onGap` is told); the primary answers `reset`
 * when what was missed is gone.
 */
export async function followStream(
  config: Pick<Config, 'api' | 'apiToken'>,
  onMessage: (m: StreamMessage) => void,
  signal: AbortSignal,
  onGap: (why: string) => void,
  /** Told when the stream answers (each time it does). */
  onOpen: () => void = () => undefined,
): Promise<void> {
  let lastId: string | undefined;
  while (!signal.aborted) {
    const headers: Record<string, string> = { accept: 'text/event-stream', 'x-picluster-client': 'cli' };
    if (config.apiToken) headers.authorization = `Bearer ${config.apiToken}`;
    if (lastId) headers['last-event-id'] = lastId;
    try {
      const response = await fetch(new URL('/api/stream', config.api), { headers, signal });
      if ([401, 403, 404].includes(response.status)) {
        // Not a dropped link: asking again will not help.
        throw new StreamRefused(`${response.status}: ${(await response.text()).slice(0, 200)}`);
      }
      if (!response.ok || !response.body) throw new Error(`answered ${response.status}`);
      onOpen();
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const message: StreamMessage = { id: undefined, event: 'message', data: '' };
          for (const line of block.split('\n')) {
            const at = line.indexOf(':');
            if (at <= 0) continue; // a comment (keep-alive) or a blank
            const field = line.slice(0, at);
            const value = line.slice(at + 1).replace(/^ /, '');
            if (field === 'id') message.id = value;
            else if (field === 'event') message.event = value;
            else if (field === 'data') message.data += message.data ? `\n${value}` : value;
          }
          if (message.id) lastId = message.id;
          if (message.data) onMessage(message);
          end = buffer.indexOf('\n\n');
        }
      }
      if (!signal.aborted) onGap('the stream ended');
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof StreamRefused) throw err;
      onGap(`the stream failed (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`);
    }
    // Ended early by Ctrl-C.
    await sleep(1000, undefined, { signal }).catch(() => undefined);
  }
}

/** The primary refused the stream (login, permission, no such route): the follow ends. */
export class StreamRefused extends Error {}
