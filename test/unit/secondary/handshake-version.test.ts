// A node and a primary whose protocol versions do not overlap: the node's error names both
// protocol ranges and its own picluster version (the primary's log names the primary's), and says
// what to do.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { randomHex } from '../../../src/protocol/auth.js';
import { handshake } from '../../../src/secondary/handshake.js';
import { connectionPair } from '../../helpers/socket-pair.js';

it("a primary of a protocol the node does not speak: one error naming both ranges and the node's version", async (t) => {
  const { a: node, b: primary, cleanup } = await connectionPair();
  t.after(cleanup);
  const options = {
    nodeId: '0b6f4c1e-0000-4000-8000-000000000001',
    name: 'pi',
    labels: {},
    version: '0.1.0',
    machineId: 'm',
    token: 'cluster-token-0123456789',
    secretFor: () => undefined,
    timeoutMs: 2000,
  };
  const result = handshake(node, options);
  primary.send('hello', {
    protocol: { min: 2, max: 3 },
    primaryId: 'p',
    nonce: randomHex(32),
    heartbeatMs: 5000,
    maxFrameBytes: 65536,
  });
  await assert.rejects(result, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_VERSION');
    assert.match(
      err.message,
      /the primary speaks 2\.\.3, this node \(picluster 0\.1\.0\) 1: run the same picluster, or neighbouring versions, on both \(the primary's log names its version\)/,
    );
    return true;
  });
});
