// Small helpers for what the agent writes to its link (vitals, task results): waiting out a full
// write queue, and telling a message too large for the primary's frame limit from other failures.

import type { Connection } from '../connection/connection.js';
import { ProtocolError } from '../protocol/errors.js';

/** Resolves on the link's next 'drain' or its end, whichever comes first. */
export function drainOrDisconnect(conn: Connection): Promise<void> {
  return new Promise<void>((done) => {
    const finish = () => {
      conn.off('drain', finish);
      conn.off('disconnect', finish);
      done();
    };
    conn.once('drain', finish);
    conn.once('disconnect', finish);
  });
}

/** True for the error `send` throws for a message larger than the primary's frame limit. */
export function isTooLarge(err: unknown): boolean {
  return err instanceof ProtocolError && err.code === 'ERR_FRAME_TOO_LARGE';
}
