// How the agent reaches its primary: TCP (a fresh name lookup every time, so a primary that moved
// is found), then, unless TLS is off, the TLS handshake with the certificate checked against what
// this node trusts (primary-trust.ts). A certificate trusted on first use is pinned only once the
// primary has proven the cluster's credentials (`proven`, after the handshake's serverProof). A
// session is resumed at the next connection only if its certificate was trusted: a resumed session
// skips the certificate, so the ticket is kept with the fingerprint it was verified with, and never
// before the verification (for a first use, before the proof).

import type { Socket } from 'node:net';
import { dial } from '../connection/connect.js';
import { startTls } from '../connection/tls-client.js';
import type { PrimaryAddress } from './primary-address.js';
import type { PrimaryTrust } from './primary-trust.js';

export interface PrimaryLink {
  socket: Socket;
  /**
   * The primary on this link proved it holds the cluster's credentials (the handshake checked its
   * serverProof): a certificate trusted on first use is pinned now, and its session kept.
   * @throws the file system's error when the pin cannot be written
   */
  proven(): void;
}

export class PrimaryDialer {
  readonly #trust: PrimaryTrust | undefined;
  /** The last verified session with the primary, resumed at the next connection. */
  #session: { ticket: Buffer; fingerprint: string } | undefined;

  /** `trust` undefined: plaintext (a primary run with --no-tls). */
  constructor(trust: PrimaryTrust | undefined) {
    this.#trust = trust;
  }

  /**
   * A connection to `target`, verified (or, on first use, to be pinned once `proven`).
   * @throws DisconnectionError (unreachable, timed out), TlsError ERR_TLS_UNTRUSTED
   */
  async connect(target: PrimaryAddress, timeoutMs: number, signal: AbortSignal): Promise<PrimaryLink> {
    const socket = await dial({ ...target, timeoutMs, signal });
    const trust = this.#trust;
    if (!trust) return { socket, proven: noop };
    const where = `${target.host}:${target.port}`;
    let verified: string | undefined;
    let early: Buffer | undefined;
    const keep = (ticket: Buffer) => {
      if (verified === undefined) early = ticket;
      else this.#session = { ticket, fingerprint: verified };
    };
    const trusted = (fingerprint: string) => {
      verified = fingerprint;
      if (early) keep(early);
    };
    const tls = await startTls(socket, where, { ...trust.client, session: this.#session, timeoutMs, signal }, keep);
    let candidate: string | undefined;
    try {
      candidate = trust.verify(tls, where);
    } catch (err) {
      tls.socket.destroy();
      throw err;
    }
    if (candidate === undefined) {
      trusted(tls.fingerprint);
      return { socket: tls.socket, proven: noop };
    }
    const firstUse = candidate;
    return {
      socket: tls.socket,
      proven: () => {
        trust.pin(firstUse, where);
        trusted(firstUse);
      },
    };
  }
}

function noop(): void {}
