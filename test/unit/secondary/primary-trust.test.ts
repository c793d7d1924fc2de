// Trust on first use (primary-trust.ts): the first certificate is a candidate until the primary has
// proven the cluster's credentials; only then is it pinned, in a file written whole or not at all.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { silentLogger } from '../../../src/common/logger.js';
import type { TlsClient } from '../../../src/connection/tls-client.js';
import { TlsError } from '../../../src/protocol/errors.js';
import { PrimaryTrust } from '../../../src/secondary/primary-trust.js';
import { tempDir } from '../../helpers/cluster.js';

const FIRST = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;

function presented(fingerprint: string): TlsClient {
  return { fingerprint, resumed: false, authorized: false, authorizationError: undefined } as TlsClient;
}

it('trust on first use: the certificate is pinned only once the primary has proven itself, atomically', (t) => {
  const dir = tempDir(t);
  const pinFile = join(dir, 'primary-fingerprint');
  const trust = new PrimaryTrust(dir, { trustFirstUse: true }, silentLogger);
  const candidate = trust.verify(presented(FIRST), '10.0.0.1:12345');
  assert.equal(existsSync(pinFile), false, 'nothing pinned right after TLS');
  assert.equal(candidate, FIRST);
  // A peer that never proves itself leaves the next one a first use too.
  assert.equal(trust.verify(presented(OTHER), '10.0.0.2:12345'), OTHER);
  assert.equal(existsSync(pinFile), false);

  trust.pin(FIRST, '10.0.0.1:12345');
  assert.equal(readFileSync(pinFile, 'utf8').trim(), FIRST);
  assert.equal(statSync(pinFile).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['primary-fingerprint'], 'no temporary file left');
  assert.equal(trust.verify(presented(FIRST), '10.0.0.1:12345'), undefined, 'pinned: nothing more to pin');
  assert.throws(
    () => trust.verify(presented(OTHER), '10.0.0.2:12345'),
    (err: unknown) => err instanceof TlsError && err.code === 'ERR_TLS_UNTRUSTED' && err.message.includes(FIRST),
  );
});
