// The primary's identity files in its data dir: `primary-id` (made once, kept for ever) and the
// cluster token `token` (mode 0600), created on the first start when no token is given.

import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
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
