// The primary's TLS identity on the cluster port: the user's own certificate and key
// (`tlsCertFile`, `tlsKeyFile`), or a key and self-signed certificate made at the first start in
// DATA/tls/ (ECDSA P-256, files 0600 in a 0700 directory), and the 48 bytes of session ticket
// keys kept beside them, so nodes resume their TLS sessions across a restart of the primary (a
// reconnect storm of 10,000 nodes is then not 10,000 full handshakes). Its fingerprint,
// `sha256:` + hex of the certificate's DER, is what secondaries pin.

import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { certificateFingerprint, readPemFile } from '../protocol/auth.js';
import { ConfigError } from '../protocol/errors.js';

export interface TlsIdentity {
  /** PEM. */
  cert: string;
  /** PEM. */
  key: string;
  /** `sha256:` + 64 hex digits of the certificate's DER. */
  fingerprint: string;
  /** Session ticket keys (48 bytes), the same across restarts. */
  ticketKeys: Buffer;
}

export interface TlsFiles {
  /** The user's certificate (PEM); with `keyFile`. Default: made in DATA/tls/. */
  certFile?: string;
  keyFile?: string;
}

/** The identity (made on the first start when not given) and the CA whose clients are let in (mutual TLS). */
export async function openClusterTls(
  dataDir: string,
  given: TlsFiles & { clientCaFile?: string },
  primaryId: string,
  log: Logger,
): Promise<{ identity: TlsIdentity; clientCa: string | undefined }> {
  const identity = await loadOrCreateTlsIdentity(dataDir, given, primaryId, log);
  const clientCa = given.clientCaFile === undefined ? undefined : readPemFile(given.clientCaFile, 'tlsClientCaFile');
  return { identity, clientCa };
}

/**
 * TLS on the cluster port as the listener takes it, with the fingerprint and the PEM pair; none
 * when it is turned off (--no-tls, said in a warning).
 */
export async function clusterTlsOf(
  dataDir: string,
  given: (TlsFiles & { clientCaFile?: string }) | false | undefined,
  primaryId: string,
  log: Logger,
): Promise<
  | { listener: { cert: string; key: string; ticketKeys: Buffer; clientCa: string | undefined }; fingerprint: string }
  | undefined
> {
  if (given === false) {
    log.warn(
      {},
      'TLS is off on the cluster port (--no-tls): tokens, node secrets and vitals cross the network in the clear',
    );
    return undefined;
  }
  const { identity, clientCa } = await openClusterTls(dataDir, given ?? {}, primaryId, log);
  const { cert, key, ticketKeys, fingerprint } = identity;
  return { listener: { cert, key, ticketKeys, clientCa }, fingerprint };
}

/** Ten years: a self-signed certificate is trusted by its pin, not by its dates. */
const VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;

/** The primary's certificate, key and ticket keys, made on the first start when not given. */
export async function loadOrCreateTlsIdentity(
  dataDir: string,
  files: TlsFiles,
  primaryId: string,
  log: Logger,
): Promise<TlsIdentity> {
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let cert: string;
  let key: string;
  if (files.certFile !== undefined || files.keyFile !== undefined) {
    if (files.certFile === undefined || files.keyFile === undefined) {
      throw new ConfigError(
        'tlsCertFile and tlsKeyFile go together: give both, or neither (a certificate is then made)',
      );
    }
    cert = readPemFile(files.certFile, 'tlsCertFile');
    key = readPemFile(files.keyFile, 'tlsKeyFile');
  } else {
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    if (!existsSync(certFile) || !existsSync(keyFile)) {
      const made = await makeSelfSigned(primaryId);
      writePrivate(keyFile, made.key);
      writePrivate(certFile, made.cert);
      log.info({ certFile }, 'made a key and a self-signed certificate for the cluster port');
    }
    cert = readFileSync(certFile, 'utf8');
    key = readFileSync(keyFile, 'utf8');
  }
  let der: Buffer;
  try {
    der = new X509Certificate(cert).raw;
  } catch (err) {
    throw new ConfigError(`the cluster port's certificate cannot be read: ${(err as Error).message}`);
  }
  const ticketFile = join(dir, 'ticket-keys');
  if (!existsSync(ticketFile)) writePrivate(ticketFile, randomBytes(48));
  const ticketKeys = readFileSync(ticketFile);
  if (ticketKeys.length !== 48) throw new ConfigError(`${ticketFile} must hold 48 bytes (delete it to make new ones)`);
  return { cert, key, fingerprint: certificateFingerprint(der), ticketKeys };
}

async function makeSelfSigned(primaryId: string): Promise<{ cert: string; key: string }> {
  // Loaded only here, once: the agent never carries it, the primary only at its first start.
  const { generate } = await import('selfsigned');
  const notBeforeDate = new Date(Date.now() - 24 * 3600 * 1000); // a node's clock may lag a day
  const pems = await generate([{ name: 'commonName', value: `picluster primary ${primaryId}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + VALIDITY_MS),
  });
  return { cert: pems.cert, key: pems.private };
}

function writePrivate(file: string, data: string | Buffer): void {
  writeFileSync(file, data, { mode: 0o600 });
  chmodSync(file, 0o600);
}
