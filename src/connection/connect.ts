// Dialing: open a TCP socket with a deadline and turn every failure into a DisconnectionError.

import net from 'node:net';
import { DisconnectionError } from '../protocol/errors.js';
import { disconnectionOf } from './socket-errors.js';

export interface DialOptions {
  host: string;
  port: number;
  /** Give up connecting after this long, in ms. Default 5000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Opens a TCP socket; rejects with DisconnectionError (refused, unreachable, timed out, aborted). */
export function dial({ host, port, timeoutMs = 5_000, signal }: DialOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const peer = `${host}:${port}`;
    // A fresh lookup on every dial: a primary that moved to a new address is found again.
    const socket = net.connect({ host, port });
    const done = (err?: DisconnectionError) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const onConnect = () => done();
    const onError = (err: NodeJS.ErrnoException) => done(disconnectionOf(err, peer));
    const onAbort = () =>
      done(new DisconnectionError('ERR_CLOSED', `connecting to ${peer} aborted`, { cause: signal?.reason }));
    const timer = setTimeout(
      () =>
        done(new DisconnectionError('ERR_CONNECT_TIMEOUT', `connecting to ${peer} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('connect', onConnect);
    socket.once('error', onError);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
