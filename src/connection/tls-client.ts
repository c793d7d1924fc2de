// The client end of TLS on the cluster port: a dialed socket goes through the TLS handshake within
// a deadline, resuming the previous session when there is one (the primary keeps its ticket keys
// across restarts). Whether to trust the certificate is the caller's decision (a pin, a CA, or
// trust on first use): this reports the peer certificate's fingerprint and whether a given CA
// signed it, and never checks host names (nodes dial primaries by IP address as often as by name).

import type net from 'node:net';
import tls from 'node:tls';
import { certificateFingerprint } from '../protocol/auth.js';
import { DisconnectionError } from '../protocol/errors.js';
import { disconnectionOf } from './socket-errors.js';

export interface TlsClientOptions {
  /**
   * Made once per process and shared by every connection (a context per connection costs CPU at
   * every reconnect): the CA that makes the primary trusted, if any (none: no root store either,
   * the trust is a pin), and this node's certificate for mutual TLS.
   */
  context: tls.SecureContext;
  /** Whether the context holds a CA to check the primary against (`authorized` below). */
  checksCa: boolean;
  /**
   * A session to resume, with the fingerprint of the certificate it was made with (a resumed
   * session carries no certificate; it is bound to the one the first handshake showed).
   */
  session?: { ticket: Buffer; fingerprint: string };
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface TlsClient {
  socket: tls.TLSSocket;
  /** `sha256:` + hex of the primary's certificate (DER); for a resumed session, the one it was made with. */
  fingerprint: string;
  /** Whether the session was resumed (no certificate was sent). */
  resumed: boolean;
  /** Whether the context's CA signed the primary's certificate (false without one). */
  authorized: boolean;
  /** Why it is not authorized, when it is not. */
  authorizationError: string | undefined;
}

/** The TLS handshake over `socket` (already connected to `peer`); rejects with DisconnectionError. */
export function startTls(
  socket: net.Socket,
  peer: string,
  options: TlsClientOptions,
  onSession: (session: Buffer) => void,
): Promise<TlsClient> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket,
      secureContext: options.context,
      session: options.session?.ticket,
      // The trust decision is the caller's (pin, CA or first use): the handshake must finish
      // to see the certificate, and host names are not what a node knows its primary by.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    secure.on('session', onSession);
    const done = (err?: DisconnectionError) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      secure.off('error', onError);
      secure.off('secureConnect', onSecure);
      if (err) {
        secure.destroy();
        reject(err);
        return;
      }
      const resumed = secure.isSessionReused();
      const raw = secure.getPeerCertificate().raw as Buffer | undefined;
      const fingerprint = raw ? certificateFingerprint(raw) : resumed ? options.session?.fingerprint : undefined;
      if (fingerprint === undefined) {
        secure.destroy();
        reject(new DisconnectionError('ERR_SOCKET', `TLS handshake with ${peer} showed no certificate`));
        return;
      }
      resolve({
        socket: secure,
        fingerprint,
        resumed,
        authorized: options.checksCa && secure.authorized,
        authorizationError: secure.authorizationError ? String(secure.authorizationError) : undefined,
      });
    };
    const onSecure = () => done();
    const onError = (err: NodeJS.ErrnoException) => done(disconnectionOf(err, peer));
    const onAbort = () => done(new DisconnectionError('ERR_CLOSED', `TLS handshake with ${peer} aborted`));
    const timer = setTimeout(
      () =>
        done(
          new DisconnectionError(
            'ERR_CONNECT_TIMEOUT',
            `TLS handshake with ${peer} not finished in ${options.timeoutMs} ms`,
          ),
        ),
      options.timeoutMs,
    );
    secure.once('secureConnect', onSecure);
    secure.once('error', onError);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
