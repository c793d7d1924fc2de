// /api/stream and a client that stops reading: its queue is bounded in characters as well as in
// messages; past either bound the client gets one `reset` (it then loads a snapshot) instead of
// the primary holding what it did not read.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ClusterView } from '../../../src/primary/cluster-view.js';
import { MAX_CLIENT_QUEUE_CHARS } from '../../../src/web/api.js';
import { createApp } from '../../../src/web/server.js';
import type { StreamHub, StreamMessage } from '../../../src/web/stream-hub.js';
import { waitUntil } from '../../helpers/cluster.js';

/** A client of /api/stream on an app whose hub the test drives: `publish` reaches that client. */
async function streamClient(): Promise<{ response: Response; publish: (message: StreamMessage) => void }> {
  let listener: ((message: StreamMessage) => void) | undefined;
  const hub = {
    start() {},
    stop() {},
    subscribe(subscriber: (message: StreamMessage) => void) {
      listener = subscriber;
      return () => {
        listener = undefined;
      };
    },
  } as unknown as StreamHub;
  const cluster = { ready: true, history: {} } as unknown as ClusterView;
  const response = await createApp(cluster, { hub }).request('/api/stream');
  await waitUntil(() => listener, 2000, 'the client subscribed');
  return { response, publish: (message) => listener?.(message) };
}

// Bounded: a regression here would wait for a message for ever.
it('a client that stops reading gets reset once its queue passes MAX_CLIENT_QUEUE_CHARS', {
  timeout: 15_000,
}, async () => {
  // Found by review: bounded by count only, one stalled client at 10,000 nodes held ~500 MB.
  const { response, publish } = await streamClient();
  assert.equal(response.status, 200);
  // Six messages of 1 MiB while nothing is read: the fifth passes the bound.
  const big = 'x'.repeat(1024 * 1024);
  for (let id = 1; id <= 6; id++) publish({ id, event: 'vitals', data: big });
  publish({ id: 7, event: 'vitals', data: '{"small":true}' });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('"small":true')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  const events = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
  assert.ok(events.includes('reset'), `events: ${events.join(' ')}`);
  // What the client was sent in all stays under the bound (plus the one in flight when it stalled).
  assert.ok(text.length < MAX_CLIENT_QUEUE_CHARS + 2 * big.length, `${text.length} characters sent`);
});

it('a message larger than the bound still reaches a client that keeps up (no reset loop)', {
  timeout: 15_000,
}, async () => {
  const { response, publish } = await streamClient();
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  const readUntil = async (marker: string) => {
    while (!text.includes(marker)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  };
  await readUntil('retry:');
  publish({ id: 1, event: 'vitals', data: `"${'x'.repeat(MAX_CLIENT_QUEUE_CHARS + 1024)}"` });
  await readUntil('x"\n'); // the client reads it (keeps up) before the next comes
  publish({ id: 2, event: 'vitals', data: '{"small":true}' });
  await readUntil('"small":true');
  await reader.cancel();
  assert.deepEqual(
    [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]),
    ['vitals', 'vitals'],
  );
});
