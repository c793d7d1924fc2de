// What the agent does after a failed attempt to reach its primary: how long it waits, what it
// says (once per kind of failure, not once per attempt), and which credential the next handshake
// proves. A refusal of the node secret earns one try of the cluster token at once (the primary may
// have forgotten the node); whatever becomes of that, the next attempt proves the secret again:
// the secret is never given up, since an ERR_AUTH may be forged and a primary that refuses the
// token for this enrolled id wants the secret. Every other refusal waits the longest backoff, so a
// fleet with a wrong token does not hammer its primary. A standby primary's ERR_NOT_LEADER sends
// the next attempt to the leader it names, once, and with TLS off only to a configured address.

import type { Logger } from '../common/logger.js';
import type { Backoff } from '../connection/backoff.js';
import {
  AdmissionError,
  AuthError,
  NotLeaderError,
  PiclusterError,
  TlsError,
  VersionError,
} from '../protocol/errors.js';
import { type PrimaryAddress, parsePrimaries } from './primary-address.js';

export class RetryPolicy {
  readonly #backoff: Backoff;
  readonly #log: Logger;
  readonly #hasToken: boolean;
  readonly #onRefused: (err: PiclusterError) => void;
  readonly #mayRedirect: (leader: PrimaryAddress) => boolean;
  #credential: 'secret' | 'token' = 'secret';
  #lastFailure = '';
  /** Where a standby primary said the leader is: the next attempt goes there (issue 17). */
  #redirect: PrimaryAddress | undefined;
  #redirected = false;

  constructor(options: {
    backoff: Backoff;
    logger: Logger;
    hasToken: boolean;
    /** The primary refused this node (authFailed). */
    onRefused(err: PiclusterError): void;
    /**
     * Whether a leader a standby names may be dialled. Without TLS nothing proves who answers
     * there, so the agent keeps to its configured primaries; with TLS the pinned certificate does.
     */
    mayRedirect(leader: PrimaryAddress): boolean;
  }) {
    this.#backoff = options.backoff;
    this.#log = options.logger;
    this.#hasToken = options.hasToken;
    this.#onRefused = options.onRefused;
    this.#mayRedirect = options.mayRedirect;
  }

  /** Whether the next handshake proves the node secret (it holds one) rather than the token. */
  get proveSecret(): boolean {
    return this.#credential === 'secret';
  }

  /** A handshake failed with `err`: the credential of the next one. */
  handshakeFailed(err: unknown): void {
    if (err instanceof AuthError) this.#credential = err.usedSecret && this.#hasToken ? 'token' : 'secret';
  }

  /** The primary issued a new secret: prove it from now on. */
  secretIssued(): void {
    this.#credential = 'secret';
  }

  /** Online: the next failure is news again. */
  online(): void {
    this.#lastFailure = '';
    this.#redirected = false;
  }

  /** The address a standby named as the leader's, once: the attempt after the refusal dials it. */
  takeRedirect(): PrimaryAddress | undefined {
    const target = this.#redirect;
    this.#redirect = undefined;
    this.#redirected = target !== undefined;
    return target;
  }

  /** Logs a failure once per kind of failure, and picks the delay before the next attempt. */
  delayAfter(err: unknown, target: PrimaryAddress): number {
    const where = `${target.host}:${target.port}`;
    const summary = err instanceof PiclusterError ? `${err.code} ${err.message}` : String(err);
    const isNew = summary !== this.#lastFailure;
    this.#lastFailure = summary;
    if (err instanceof AdmissionError) {
      // Pending: the operator has to approve this node; denied: to change their mind. Either way
      // only they can help, and the next try at the slowest pace sees it soon after.
      if (isNew) {
        const line = `${err.message}; retrying every ${this.#backoff.options.maxDelayMs / 1000} s`;
        if (err.code === 'ERR_PENDING') this.#log.warn({ primary: where, code: err.code }, line);
        else this.#log.error({ primary: where, code: err.code }, line);
      }
      this.#onRefused(err);
      return this.#backoff.options.maxDelayMs;
    }
    if (err instanceof NotLeaderError) {
      // A standby primary: go to the leader it names at once, unless the last attempt was such a
      // redirect already (two standbys naming each other, a leader that just stepped down): then
      // back off like any failure, and try the addresses in turn.
      const leader = err.leader === undefined ? undefined : parseLeader(err.leader);
      const allowed = leader !== undefined && this.#mayRedirect(leader);
      if (allowed && !this.#redirected) {
        this.#log.info({ primary: where, leader: err.leader }, 'a standby primary: going to the leader it names');
        this.#redirect = leader;
        return 0;
      }
      if (leader && !allowed) {
        if (isNew)
          this.#log.warn(
            { primary: where, leader: err.leader },
            `${err.message}; with TLS off this node dials only its configured primaries (--primary): trying them in turn`,
          );
        return this.#backoff.next();
      }
      if (isNew) this.#log.warn({ primary: where, code: err.code }, `${err.message}; retrying with backoff`);
      return this.#backoff.next();
    }
    if (err instanceof TlsError) {
      // The primary's certificate is not the one trusted, or it wants TLS: only the operator can help.
      if (isNew) this.#log.error({ primary: where, code: err.code }, `${err.message}; retrying at the slowest pace`);
      this.#onRefused(err);
      return this.#backoff.options.maxDelayMs;
    }
    if (err instanceof AuthError || err instanceof VersionError) {
      const retryToken = err instanceof AuthError && err.usedSecret && this.#hasToken;
      if (isNew) {
        // The primary says no more than "authentication failed" (it tells a prober nothing): say what was proved.
        const what = !(err instanceof AuthError)
          ? 'this node'
          : err.usedSecret
            ? "this node's secret"
            : 'the cluster token';
        const next = retryToken
          ? 'trying the cluster token once, then the node secret again'
          : 'retrying with the node secret (if it holds one) at the slowest pace';
        this.#log.error({ primary: where, code: err.code }, `primary refused ${what}: ${err.message}; ${next}`);
      }
      this.#onRefused(err);
      return retryToken ? 0 : this.#backoff.options.maxDelayMs;
    }
    if (isNew) this.#log.warn({ primary: where, err: summary }, 'cannot reach the primary; retrying with backoff');
    return this.#backoff.next();
  }
}

/** The leader address a standby names, or undefined when it is not one `host:port`. */
function parseLeader(text: string): PrimaryAddress | undefined {
  try {
    const [address, ...more] = parsePrimaries(text);
    return more.length === 0 ? address : undefined;
  } catch {
    return undefined;
  }
}
