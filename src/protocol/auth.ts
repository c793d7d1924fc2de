// Handshake proofs (ARCHITECTURE.md, "Handshake"): lowercase hex HMAC-SHA256 over UTF-8 strings,
// compared in constant time. Pure computation, no I/O.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DEFAULTS } from '../common/defaults.js';
import { ConfigError } from './errors.js';

/** `bytes` random bytes as lowercase hex (nonces, node secrets, tokens). */
export function randomHex(bytes = 32): string {
  return randomBytes(bytes).toString('hex');
}

/** `token` if it is long enough to be a cluster token. @throws ConfigError naming `where` it came from */
export function checkedToken(token: string, where: string): string {
  if (token.length < DEFAULTS.minTokenLength) {
    throw new ConfigError(
      `${where} holds ${token.length} characters; a cluster token needs at least ${DEFAULTS.minTokenLength}`,
    );
  }
  return token;
}

/** HMAC-SHA256(key, message) as lowercase hex. */
export function computeProof(key: string, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('hex');
}

/** Constant-time comparison of two secrets or proofs (false when lengths differ). */
export function secretsEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * A PEM file named by setting `key` (a certificate, a key or a CA).
 * @throws ConfigError naming the setting and the file when it cannot be read
 */
export function readPemFile(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${key} ${file}: ${(err as Error).message}`);
  }
}

/**
 * A certificate's fingerprint as picluster prints and pins it: `sha256:` + 64 lowercase hex digits
 * of the SHA-256 of its DER (ARCHITECTURE.md, "Opening").
 */
export function certificateFingerprint(der: Buffer): string {
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** A fingerprint as the user wrote it, normalised (case, colons as openssl prints them); undefined if it is not one. */
export function parseFingerprint(text: string): string | undefined {
  const hex = text
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '')
    .replaceAll(':', '');
  return /^[0-9a-f]{64}$/.test(hex) ? `sha256:${hex}` : undefined;
}

/** The proof a secondary sends: HMAC(secret or token, nonce + nodeId). */
export const clientProof = (key: string, nonce: string, nodeId: string) => computeProof(key, nonce + nodeId);

/** The proof the primary returns: HMAC(same key, clientNonce + primaryId). */
export const serverProof = (key: string, clientNonce: string, primaryId: string) =>
  computeProof(key, clientNonce + primaryId);
