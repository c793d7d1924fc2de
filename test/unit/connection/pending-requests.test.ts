import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PendingRequests } from '../../../src/connection/pending-requests.js';
import { BackpressureError, DisconnectionError, TimeoutError } from '../../../src/protocol/errors.js';
import { FakeClock } from '../../helpers/fake-clock.js';

describe('PendingRequests', () => {
  it('times out each request at its own deadline, whatever the order they were made in', async () => {
    const clock = new FakeClock();
    const pending = new PendingRequests(clock, 100);
    const outcomes: string[] = [];
    const track = (name: string, reply: Promise<unknown>) =>
      reply.then(
        () => outcomes.push(`${name} ok`),
        (err: Error) => outcomes.push(`${name} ${err instanceof TimeoutError ? 'timeout' : err.message}`),
      );
    const slow = pending.add('slow', 300);
    const fast = pending.add('fast', 100);
    const answered = pending.add('answered', 50);
    void track('slow', slow.reply);
    void track('fast', fast.reply);
    void track('answered', answered.reply);
    assert.ok(pending.resolve(answered.id, 'x'));
    clock.advance(99);
    await Promise.resolve();
    assert.deepEqual(outcomes, ['answered ok']);
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(outcomes, ['answered ok', 'fast timeout']);
    clock.advance(200);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(outcomes, ['answered ok', 'fast timeout', 'slow timeout']);
    assert.equal(pending.size, 0);
    assert.equal(pending.resolve(slow.id, 'late'), false, 'a late reply matches nothing');
  });

  it('bounds requests in flight and rejects all on disconnect', async () => {
    const pending = new PendingRequests(new FakeClock(), 2);
    const a = pending.add('a', 1000);
    const b = pending.add('b', 1000);
    assert.throws(() => pending.add('c', 1000), BackpressureError);
    const gone = new DisconnectionError('ERR_EOF', 'gone');
    pending.rejectAll(gone);
    await assert.rejects(a.reply, (e) => e === gone);
    await assert.rejects(b.reply, (e) => e === gone);
  });
});
