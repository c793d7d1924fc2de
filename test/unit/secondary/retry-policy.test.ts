// A standby's ERR_NOT_LEADER in the agent's retry policy: the next attempt goes to the leader it
// names, once (a second refusal right after backs off), and only where `mayRedirect` lets it
// (with TLS off: a configured primary); a leader it may not dial is said once and backed off from.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/common/logger.js';
import { Backoff } from '../../../src/connection/backoff.js';
import { NotLeaderError } from '../../../src/protocol/errors.js';
import type { PrimaryAddress } from '../../../src/secondary/primary-address.js';
import { RetryPolicy } from '../../../src/secondary/retry-policy.js';

const standby: PrimaryAddress = { host: '10.0.0.12', port: 12345 };

function policy(mayRedirect: (leader: PrimaryAddress) => boolean) {
  const warnings: string[] = [];
  const retry = new RetryPolicy({
    // No jitter: a backoff is always its ceiling (1 s), a redirect 0.
    backoff: new Backoff({ initialDelayMs: 1000, maxDelayMs: 1000 }, () => 0.999),
    logger: { ...silentLogger, warn: (_fields, message) => warnings.push(message) },
    hasToken: true,
    onRefused: () => undefined,
    mayRedirect,
  });
  return { retry, warnings };
}

describe('retry policy: a standby names the leader', () => {
  it('goes to a leader it may dial at once, once; a second refusal right after backs off', () => {
    const { retry } = policy(() => true);
    assert.equal(retry.delayAfter(new NotLeaderError('a standby', '10.0.0.99:7000'), standby), 0);
    assert.deepEqual(retry.takeRedirect(), { host: '10.0.0.99', port: 7000 });
    assert.ok(retry.delayAfter(new NotLeaderError('a standby', '10.0.0.12:12345'), standby) > 0);
    assert.equal(retry.takeRedirect(), undefined);
  });

  it('does not dial a leader it may not (TLS off, not configured): backs off and says so once', () => {
    const asked: PrimaryAddress[] = [];
    const { retry, warnings } = policy((leader) => {
      asked.push(leader);
      return false;
    });
    for (let i = 0; i < 3; i++) {
      assert.ok(retry.delayAfter(new NotLeaderError('a standby', '10.0.0.99:7000'), standby) > 0);
      assert.equal(retry.takeRedirect(), undefined);
    }
    assert.deepEqual(asked[0], { host: '10.0.0.99', port: 7000 });
    assert.equal(warnings.filter((m) => m.includes('dials only its configured primaries')).length, 1);
  });

  it('backs off when no primary leads (no leader named)', () => {
    const { retry } = policy(() => true);
    assert.ok(retry.delayAfter(new NotLeaderError('no primary leads', undefined), standby) > 0);
    assert.equal(retry.takeRedirect(), undefined);
  });
});
