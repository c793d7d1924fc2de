import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { loadNodeIdentity, SecretStore } from '../../../src/secondary/identity.js';

function dir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'identity-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('node identity', () => {
  it('is made on first start and kept across restarts on the same machine', (t) => {
    const d = dir(t);
    const first = loadNodeIdentity(d, 'machine-a');
    assert.equal(first.createdBecause, 'first start');
    assert.match(first.nodeId, /^[0-9a-f-]{36}$/);
    const again = loadNodeIdentity(d, 'machine-a');
    assert.deepEqual(again, { nodeId: first.nodeId, createdBecause: undefined });
  });

  it('is made anew when the data dir is found on another machine-id (a cloned SD card)', (t) => {
    const d = dir(t);
    const original = loadNodeIdentity(d, 'machine-a');
    const clone = loadNodeIdentity(d, 'machine-b');
    assert.notEqual(clone.nodeId, original.nodeId);
    assert.match(clone.createdBecause ?? '', /machine-id changed/);
  });

  it('keeps node secrets per primary, for this node id only, in a 0600 file', (t) => {
    const d = dir(t);
    const secrets = new SecretStore(d);
    secrets.set('primary-1', 'node-a', 'secret-1');
    assert.equal(new SecretStore(d).get('primary-1', 'node-a'), 'secret-1');
    assert.equal(new SecretStore(d).get('primary-1', 'node-b'), undefined, 'a new node id does not inherit it');
    assert.equal(new SecretStore(d).get('__proto__', 'node-a'), undefined);
    assert.equal(statSync(secrets.file).mode & 0o777, 0o600);
  });
});
