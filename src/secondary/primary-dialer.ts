// How the agent reaches its primary: TCP (a fresh name lookup every time, so a primary that moved
// is found), then, unless TLS is off, the TLS handshake with the certificate checked against what
// this node trusts (primary-trust.ts). A session is resumed at the next connection only if its
// certificate was trusted: a resumed session skips the certificate, so the ticket is kept with the
// fingerprint it was verified with, and never before the verification.

import type { Socket } from 'node:net';
import { dial } from '../connection/connect.js';
import { startTls } from '../connection/tls-client.js';
import type { PrimaryAddress } from './primary-address.js';
import type { PrimaryTrust } from './primary-trust.js';

export class PrimaryDialer {
  readonly #trust: PrimaryTrust | undefined;
  /** The last verified session with the primary, resumed at the next connection. */
  #session: { ticket: Buffer; fingerprint: string } | undefined;

  /** `trust` undefined: plaintext (a primary run with --no-tls). */
  constructor(trust: PrimaryTrust | undefined) {
    this.#trust = trust;
  }

  /**
   * A connection to `target`, verified.
   * @throws DisconnectionError (unreachable, timed out), TlsError ERR_TLS_UNTRUSTED
   */
  async connect(target: PrimaryAddress, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
    const socket = await dial({ ...target, timeoutMs, signal });
    const trust = this.#trust;
    if (!trust) return socket;
    const where = `${target.host}:${target.port}`;
    let verified: string | undefined;
    let early: Buffer | undefined;
    const keep = (ticket: Buffer) => {
      if (verified === undefined) early = ticket;
      else this.#session = { ticket, fingerprint: verified };
    };
    const tls = await startTls(socket, where, { ...trust.client, session: this.#session, timeoutMs, signal }, keep);
    try {
      trust.verify(tls, where);
    } catch (err) {
      tls.socket.destroy();
      throw err;
    }
    verified = tls.fingerprint;
    if (early) keep(early);
    return tls.socket;
  }
}
