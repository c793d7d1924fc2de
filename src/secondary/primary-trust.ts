// Which primary this node trusts on the cluster port (TLS): the certificate whose fingerprint it
// pins (`--primary-fingerprint sha256:…`, printed by the primary at start), one signed by a CA it
// is given (`--tls-ca-file`), or, with `--trust-first-use`, the first certificate of a primary that
// proved it holds the cluster's credentials (the handshake's serverProof), pinned from then on in
// DATA/primary-fingerprint (as SSH does). A peer that only completes TLS (a wrong address, another
// cluster's primary) pins nothing: otherwise the node would refuse its real primary for good.
// Every check given must pass; with none, the node refuses to talk rather than trust whatever
// answers. A refusal names both fingerprints.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import type { Logger } from '../common/logger.js';
import type { TlsClient, TlsClientOptions } from '../connection/tls-client.js';
import { writeAtomic } from '../node/index.js';
import { parseFingerprint, readPemFile } from '../protocol/auth.js';
import { ConfigError, TlsError } from '../protocol/errors.js';

export interface SecondaryTlsOptions {
  /** The primary's certificate fingerprint to pin: `sha256:` + 64 hex digits (colons allowed). */
  fingerprint?: string;
  /** A CA (PEM file) whose signature makes the primary trusted. */
  caFile?: string;
  /**
   * Trust the certificate of the first primary that proves the cluster's credentials, and pin it
   * in DATA/primary-fingerprint. Default false.
   */
  trustFirstUse?: boolean;
  /** This node's certificate and key (PEM files), for a primary that wants one (mutual TLS). */
  certFile?: string;
  keyFile?: string;
}

export class PrimaryTrust {
  readonly #log: Logger;
  readonly #pinFile: string;
  readonly #given: string | undefined;
  readonly #trustFirstUse: boolean;
  /** What the TLS handshake needs from us (the CA, our own certificate for mutual TLS), made once. */
  readonly client: Pick<TlsClientOptions, 'context' | 'checksCa'>;

  /** @throws ConfigError on a malformed fingerprint or an unreadable file */
  constructor(dataDir: string, options: SecondaryTlsOptions, log: Logger) {
    this.#log = log;
    this.#pinFile = join(dataDir, 'primary-fingerprint');
    this.#trustFirstUse = options.trustFirstUse === true;
    if (options.fingerprint !== undefined) {
      this.#given = parseFingerprint(options.fingerprint);
      if (this.#given === undefined) {
        throw new ConfigError(
          `invalid primaryFingerprint "${options.fingerprint.slice(0, 80)}": expected sha256: and 64 hex digits, as the primary prints it`,
        );
      }
    }
    if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
      throw new ConfigError('tlsCertFile and tlsKeyFile go together: give both, or neither');
    }
    const ca = options.caFile === undefined ? undefined : readPemFile(options.caFile, 'tlsCaFile');
    let context: tls.SecureContext;
    try {
      context = tls.createSecureContext({
        // No CA: an empty list, not Node's root store (a pin needs none, and it costs memory).
        ca: ca ?? [],
        cert: options.certFile === undefined ? undefined : readPemFile(options.certFile, 'tlsCertFile'),
        key: options.keyFile === undefined ? undefined : readPemFile(options.keyFile, 'tlsKeyFile'),
        minVersion: 'TLSv1.2',
      });
    } catch (err) {
      throw new ConfigError(`the TLS files given cannot be used: ${(err as Error).message}`);
    }
    this.client = { context, checksCa: ca !== undefined };
  }

  /**
   * Whether the primary at `where` is the one this node trusts. On first use (nothing pinned yet)
   * its certificate is only a candidate: returned, to be given to `pin` once the handshake has
   * checked the primary's proof; undefined when the certificate is trusted already.
   * @throws TlsError ERR_TLS_UNTRUSTED saying what it presented and what was expected
   */
  verify(tls: TlsClient, where: string): string | undefined {
    const pinned = this.#given ?? this.#savedPin();
    const source = this.#given ? '--primary-fingerprint' : this.#pinFile;
    if (pinned !== undefined && tls.fingerprint !== pinned) {
      throw new TlsError(
        'ERR_TLS_UNTRUSTED',
        `the primary at ${where} presented certificate ${tls.fingerprint}, but this node pins ${pinned} (${source}): not following it`,
      );
    }
    if (this.client.checksCa && !tls.authorized) {
      throw new TlsError(
        'ERR_TLS_UNTRUSTED',
        `the primary at ${where} presented certificate ${tls.fingerprint}, which the CA of tlsCaFile did not sign (${tls.authorizationError ?? 'not authorized'})`,
      );
    }
    if (pinned !== undefined || this.client.checksCa) return undefined;
    if (!this.#trustFirstUse) {
      throw new TlsError(
        'ERR_TLS_UNTRUSTED',
        `nothing to trust the primary at ${where} by (it presented ${tls.fingerprint}): give --primary-fingerprint (the primary prints it at start), --tls-ca-file, or --trust-first-use`,
      );
    }
    return tls.fingerprint;
  }

  /**
   * Pins `fingerprint`, a candidate of `verify`, now that its primary has proven the cluster's
   * credentials. Written whole or not at all: a power cut leaves no pin or this one.
   * @throws the file system's error when it cannot be written
   */
  pin(fingerprint: string, where: string): void {
    writeAtomic(this.#pinFile, `${fingerprint}\n`, 0o600);
    this.#log.warn(
      { primary: where, fingerprint, pinFile: this.#pinFile },
      "trusting the primary's certificate on first use (it proved the cluster's credentials); it is pinned from now on",
    );
  }

  #savedPin(): string | undefined {
    if (!existsSync(this.#pinFile)) return undefined;
    const pin = parseFingerprint(readFileSync(this.#pinFile, 'utf8'));
    if (pin === undefined)
      throw new TlsError('ERR_TLS_UNTRUSTED', `${this.#pinFile} holds no fingerprint: remove it or fix it`);
    return pin;
  }
}
