// The primary's identity files in its data dir: `primary-id` (made once, kept for ever) and the
// cluster token `token` (mode 0600), created on the first start when no token is given; and the
// check that the private files in it are not readable by others.

import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { warnLoosePaths } from '../node/private-files.js';
import { checkedToken, randomHex } from '../protocol/auth.js';

/** DATA/primary-id, created on the first start. */
export function loadOrCreatePrimaryId(dataDir: string): string {
  return readOrCreate(join(dataDir, 'primary-id'), () => randomUUID());
}

/**
 * The token in `file`, or a new one written there (mode 0600). The join line is logged at listening.
 * @throws ConfigError when the file holds fewer than 16 characters.
 */
export function loadOrCreateToken(file: string, log: Logger): string {
  if (existsSync(file)) return checkedToken(readFileSync(file, 'utf8').trim(), `the token file ${file}`);
  const token = randomHex(32);
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  log.info({ tokenFile: file }, 'created the cluster token');
  return token;
}

/** Reads a small file, or creates it with `make()` (mode 0600). */
function readOrCreate(file: string, make: () => string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const value = make();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

/** Says which of the primary's private files (database, token, TLS key) others can read. */
export function warnLoosePrimaryFiles(dataDir: string, tokenFile: string, log: Logger): void {
  const db = join(dataDir, 'primary.db');
  const tlsDir = join(dataDir, 'tls');
  const tlsFiles = [tlsDir, join(tlsDir, 'key.pem'), join(tlsDir, 'ticket-keys')];
  warnLoosePaths([dataDir, db, `${db}-wal`, `${db}-shm`, tokenFile, ...tlsFiles], log);
}
