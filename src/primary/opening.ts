// Reads the first bytes of an accepted socket, within the handshake deadline, to learn what it
// talks to (ARCHITECTURE.md, "Opening"). Nothing is written before the opening is known.

import type { Socket } from 'node:net';
import { classifyOpening, OPENING_MAGIC, type Opening } from '../protocol/opening.js';

export interface OpeningResult {
  kind: Exclude<Opening, 'incomplete'> | 'timeout' | 'closed';
  /** Bytes read after the opening (native: after the magic; legacy and TLS: everything read). */
  rest: Buffer;
}

export function readOpening(socket: Socket, timeoutMs: number): Promise<OpeningResult> {
  return new Promise((resolve) => {
    let head: Buffer = Buffer.alloc(0);
    const finish = (result: OpeningResult) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      socket.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const kind = classifyOpening(head);
      if (kind === 'incomplete') return;
      finish({ kind, rest: kind === 'native' ? head.subarray(OPENING_MAGIC.length) : head });
    };
    const onClose = () => finish({ kind: 'closed', rest: Buffer.alloc(0) });
    const timer = setTimeout(() => finish({ kind: 'timeout', rest: Buffer.alloc(0) }), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
  });
}
