// The secondary follows the frame limit the primary announces in `hello`: a message the primary
// would refuse (and close the link for) is refused on the node instead, and the link stays up.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { it } from 'node:test';
import { Primary, Secondary } from '../../src/index.js';
import { tempDir } from '../helpers/cluster.js';

it("a secondary refuses to send more than the primary's maxFrameBytes, and keeps its link", async (t) => {
  const dir = tempDir(t);
  const token = 'frame-limit-token-0123456789';
  const primary = new Primary({
    dataDir: join(dir, 'primary'),
    port: 0,
    bind: '127.0.0.1',
    token,
    maxFrameBytes: 4096,
  });
  await primary.start();
  t.after(() => primary.stop());
  const secondary = new Secondary({
    primary: `127.0.0.1:${primary.port}`,
    dataDir: join(dir, 'node'),
    name: 'small-frames',
    token,
    vitalsPeriodMs: 60_000,
  });
  secondary.handle('x-big-reply', () => ({ blob: 'r'.repeat(8000) }));
  secondary.handle('x-small-reply', () => ({ ok: true }));
  const offline: unknown[] = [];
  secondary.on('offline', (err) => offline.push(err));
  await secondary.start();
  t.after(() => secondary.stop());
  await once(secondary, 'online');

  // A request too large for the primary: refused on the node, before a byte is sent.
  await assert.rejects(secondary.request('query', { what: 'primary', pad: 'q'.repeat(8000) }), {
    code: 'ERR_FRAME_TOO_LARGE',
  });
  // A reply too large for the primary: the primary gets an error reply instead.
  await assert.rejects(primary.request(secondary.nodeId, 'x-big-reply'), { remoteCode: 'ERR_FRAME_TOO_LARGE' });
  // The same link still serves both ways.
  assert.deepEqual(await primary.request(secondary.nodeId, 'x-small-reply'), { ok: true });
  const answer = (await secondary.query('primary')) as { nodes: number };
  assert.equal(answer.nodes, 1);
  assert.deepEqual(offline, []);
  assert.equal(primary.stats.reconnects, 0);
});
