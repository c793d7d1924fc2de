// The pure parts of leader election (issue 17): the fence, a deadline on the monotonic clock that
// only a later renewal moves and that a margin shortens, and the options' checks and defaults.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import {
  type LeaderElectionOptions,
  resolveLeadershipOptions,
} from '../../../src/primary/leadership/leadership-options.js';
import { LeaseDeadline } from '../../../src/primary/leadership/lease-deadline.js';
import { ConfigError } from '../../../src/protocol/errors.js';

it('fences at send time + TTL − margin, never later, whatever order the renewals are answered in', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ sentAt: fc.integer({ min: 0, max: 100_000 }), ttl: fc.integer({ min: 1000, max: 10_000 }) }),
        {
          maxLength: 20,
        },
      ),
      fc.integer({ min: 0, max: 2000 }),
      fc.integer({ min: 0, max: 120_000 }),
      (renewals, margin, now) => {
        const fence = new LeaseDeadline();
        for (const r of renewals) fence.renewed(r.sentAt, r.ttl);
        const deadline = Math.max(Number.NEGATIVE_INFINITY, ...renewals.map((r) => r.sentAt + r.ttl));
        assert.equal(fence.expiresAtMs, deadline);
        assert.equal(fence.validAt(now, margin), now < deadline - margin);
      },
    ),
  );
  const fence = new LeaseDeadline();
  assert.equal(fence.validAt(0, 0), false, 'no lease: no acting');
  fence.renewed(1000, 2000);
  assert.deepEqual([fence.validAt(2599, 400), fence.validAt(2600, 400)], [true, false]);
  fence.clear();
  assert.equal(fence.validAt(1000, 0), false, 'a cleared lease does not fence open');
});

it('defaults a 5 s lease renewed every third of it with a fifth kept as margin, and refuses what cannot fence', () => {
  const base = { endpoints: ['http://127.0.0.1:2379'], clusterId: 'c1', primaryId: 'p1', address: '10.0.0.1:12345' };
  assert.deepEqual(resolveLeadershipOptions(base), {
    endpoints: ['http://127.0.0.1:2379'],
    primaryId: 'p1',
    address: '10.0.0.1:12345',
    ttlMs: 5000,
    marginMs: 1000,
    keepaliveIntervalMs: 1666,
    requestTimeoutMs: 1666,
    keyPrefix: '/picluster/c1/leader/',
  });
  const refused: Array<[Partial<LeaderElectionOptions>, RegExp]> = [
    [{ endpoints: [] }, /at least one etcd endpoint/],
    [{ endpoints: ['127.0.0.1:2379'] }, /not an http\(s\):\/\/host:port URL/],
    [{ clusterId: 'a/b' }, /clusterId/],
    [{ ttlMs: 1500 }, /whole seconds/],
    [{ ttlMs: 2000, marginMs: 1500 }, /marginMs 1500/],
    [{ address: '' }, /address: empty/],
  ];
  for (const [bad, words] of refused)
    assert.throws(
      () => resolveLeadershipOptions({ ...base, ...bad }),
      (err) => err instanceof ConfigError && words.test(err.message),
    );
});
