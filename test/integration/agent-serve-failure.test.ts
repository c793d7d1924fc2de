// A link the agent fails to start serving after its handshake (its outbox's file fails, or an
// `online` listener of the library throws) is closed by the agent before it dials the next one:
// never left open beside it until the primary replaces it.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Secondary } from '../../src/secondary/secondary.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';

const TOKEN = 'serve-failure-test-token-0123';

it("an 'online' listener that throws costs that link, closed at once, and the agent comes back", async (t) => {
  const primary = await startLibraryPrimary(t, { token: TOKEN, tls: false });
  const states: string[] = [];
  primary.on('node', (view: { state: string }) => states.push(view.state));
  const node = new Secondary({ primary: `127.0.0.1:${primary.port}`, dataDir: tempDir(t), token: TOKEN, tls: false });
  let onlines = 0;
  node.on('online', () => {
    onlines++;
    if (onlines === 1) throw new Error('a listener bug');
  });
  await node.start();
  t.after(() => node.stop());
  await waitUntil(() => onlines >= 2, 15_000, 'the agent online again');
  await waitUntil(() => primary.node(node.nodeId)?.state === 'online', 5_000, 'the node online at the primary');
  // The first link was closed by the agent (the primary saw it go: lost), not replaced by the second.
  assert.deepEqual(states.slice(0, 3), ['online', 'lost', 'online'], states.join(' '));
});
