// Socket failures as DisconnectionErrors: one table from Node's errno codes to ours, shared by
// dialing (connect.ts), `Connection` and the primary's legacy sessions.

import { type DisconnectionCode, DisconnectionError } from '../protocol/errors.js';

const ERRNO_CODES: Record<string, DisconnectionCode> = {
  ECONNRESET: 'ERR_CONNECTION_RESET',
  EPIPE: 'ERR_BROKEN_PIPE',
  ECONNREFUSED: 'ERR_CONNECTION_REFUSED',
  ENETUNREACH: 'ERR_UNREACHABLE',
  EHOSTUNREACH: 'ERR_UNREACHABLE',
  ETIMEDOUT: 'ERR_PEER_TIMEOUT',
  ERR_STREAM_WRITE_AFTER_END: 'ERR_CLOSED',
  ERR_STREAM_DESTROYED: 'ERR_CLOSED',
};

/** Maps a socket error to the DisconnectionError that reports it. */
export function disconnectionOf(err: NodeJS.ErrnoException, peer: string): DisconnectionError {
  const code =
    (err.code !== undefined && Object.hasOwn(ERRNO_CODES, err.code) && ERRNO_CODES[err.code]) || 'ERR_SOCKET';
  return new DisconnectionError(code, `connection to ${peer} failed: ${err.message}`, { cause: err });
}
