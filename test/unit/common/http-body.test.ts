// readBodyHead: an answer from a server we talk to is read to its end when short and cut off (the
// rest cancelled, not read) past the bound, whatever the server keeps sending.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { readBodyHead } from '../../../src/common/http-body.js';

/** An answer whose body never ends: 64 KiB chunks for as long as they are pulled. */
function endless(status = 500): { answer: Response; pulled: () => number; cancelled: () => boolean } {
  let pulled = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += 64 * 1024;
      controller.enqueue(new Uint8Array(64 * 1024).fill(0x65));
    },
    cancel() {
      cancelled = true;
    },
  });
  return { answer: new Response(body, { status }), pulled: () => pulled, cancelled: () => cancelled };
}

it('reads a short answer whole, and at most maxBytes of an endless one, cancelling the rest', {
  timeout: 15_000,
}, async () => {
  assert.deepEqual(await readBodyHead(new Response('{"error":"overloaded"}'), 4096), {
    text: '{"error":"overloaded"}',
    cut: false,
  });
  assert.deepEqual(await readBodyHead(new Response(null, { status: 204 }), 4096), { text: '', cut: false });
  const { answer, pulled, cancelled } = endless();
  const head = await readBodyHead(answer, 4096);
  assert.equal(head.cut, true);
  assert.equal(head.text, 'e'.repeat(4096));
  assert.equal(cancelled(), true);
  assert.ok(pulled() <= 4 * 64 * 1024, `${pulled()} bytes pulled`);
});
