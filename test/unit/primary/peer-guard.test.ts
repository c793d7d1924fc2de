// The pieces of the limits per peer, on a fake monotonic clock: the per-address guard (cap and
// failed-proof backoff), the rate gate of a session, the log limiter, the legacy address ranges.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LogLimiter } from '../../../src/common/log-limiter.js';
import { SessionRateGate } from '../../../src/connection/rate-gate.js';
import { AddressRanges } from '../../../src/primary/address-ranges.js';
import { newPrimaryStats } from '../../../src/primary/node-host.js';
import { PeerGuard } from '../../../src/primary/peer-guard.js';
import { ConfigError, ProtocolError } from '../../../src/protocol/errors.js';
import type { Message } from '../../../src/protocol/messages.js';

function guard(maxHandshakesPerAddress = 2, authFailuresPerMinute = 3) {
  const clock = { now: 0 };
  const stats = newPrimaryStats();
  const peers = new PeerGuard({ maxHandshakesPerAddress, authFailuresPerMinute, stats, now: () => clock.now });
  return { peers, stats, clock };
}

describe('PeerGuard', () => {
  it('caps the connections of one address in their handshake; an ended one frees its place once', () => {
    const { peers, stats } = guard(2);
    const a = peers.opened('10.0.0.1');
    peers.opened('10.0.0.1');
    assert.equal(peers.refusal('10.0.0.1'), 'handshakes');
    assert.equal(peers.refusal('10.0.0.2'), undefined, 'other addresses are not affected');
    a();
    a();
    assert.equal(peers.openFrom('10.0.0.1'), 1, 'ending twice counts once');
    assert.equal(peers.refusal('10.0.0.1'), undefined);
    assert.equal(stats.addressHandshakesRefused, 1);
  });

  it('backs off an address that fails too often, doubling each time, up to 5 minutes', () => {
    const { peers, stats, clock } = guard(100, 3);
    const backoffs: number[] = [];
    for (let round = 0; round < 12; round++) {
      let started: number | undefined;
      for (let i = 0; i < 3; i++) started = peers.authFailed('10.0.0.9') ?? started;
      backoffs.push(started as number);
      assert.equal(peers.refusal('10.0.0.9'), 'backoff');
      clock.now += started as number;
      assert.equal(peers.refusal('10.0.0.9'), undefined, 'let in once the backoff is over');
    }
    assert.deepEqual(backoffs.slice(0, 4), [1000, 2000, 4000, 8000]);
    assert.equal(Math.max(...backoffs), 300_000);
    assert.equal(stats.authBackoffs, 12);
    assert.ok(stats.authBackoffRefused >= 12);
  });

  it('forgives after a good join or a quiet minute; failures spread over minutes never back off', () => {
    const { peers, clock } = guard(100, 3);
    for (let i = 0; i < 3; i++) peers.authFailed('a');
    clock.now += 1000;
    for (let i = 0; i < 3; i++) peers.authFailed('a');
    assert.equal(peers.refusal('a'), 'backoff', 'the second backoff: 2 s');
    clock.now += 2000;
    peers.authSucceeded('a');
    let started: number | undefined;
    for (let i = 0; i < 3; i++) started = peers.authFailed('a') ?? started;
    assert.equal(started, 1000, 'back to the first step after a good join');
    // A quiet minute after a backoff forgives it: the next backoff starts over at 1 s.
    for (let i = 0; i < 3; i++) peers.authFailed('c');
    clock.now += 1000;
    for (let i = 0; i < 3; i++) peers.authFailed('c');
    clock.now += 2000 + 60_000;
    peers.authFailed('c');
    started = undefined;
    for (let i = 0; i < 2; i++) started = peers.authFailed('c') ?? started;
    assert.equal(started, 1000, 'back to the first step after a quiet minute');
    clock.now += 61_000;
    for (let minute = 0; minute < 10; minute++) {
      assert.equal(peers.authFailed('b'), undefined);
      assert.equal(peers.authFailed('b'), undefined);
      clock.now += 60_000;
    }
  });
});

describe('SessionRateGate', () => {
  const vitals = { t: 'vitals' } as Message;
  const request = { t: 'query', id: 1 } as Message;

  it("lets a second's worth through at once, then holds back by the debt, then closes past another second's worth", () => {
    let throttles = 0;
    const gate = new SessionRateGate(
      { framesPerSecond: 1000, requestsPerSecond: 5, samplesPerSecond: 10 },
      0,
      () => throttles++,
    );
    for (let i = 0; i < 10; i++) assert.equal(gate.admit(vitals, 0), 0);
    assert.equal(gate.admit(vitals, 0), 100, 'one over at 10/s: 100 ms');
    assert.equal(gate.admit(vitals, 0), 200);
    assert.equal(throttles, 1, 'one throttle while it stays held back');
    assert.equal(gate.admit(vitals, 1000), 0, 'a second later it is within again');
    // 7 tokens left (10 refilled, 2 owed, 1 taken), then 10 more on credit: the next is too many.
    for (let i = 0; i < 17; i++) gate.admit(vitals, 1000);
    assert.throws(
      () => gate.admit(vitals, 1000),
      (err: unknown) =>
        err instanceof ProtocolError &&
        err.code === 'ERR_RATE_LIMITED' &&
        /samples faster than 10\/s/.test(err.message),
    );
    assert.equal(throttles, 2);
  });

  it('counts requests apart from samples, and every frame as a frame', () => {
    const gate = new SessionRateGate({ framesPerSecond: 3, requestsPerSecond: 100, samplesPerSecond: 100 }, 0);
    for (let i = 0; i < 3; i++) gate.admit(request, 0);
    assert.ok(gate.admit({ t: 'pong' } as Message, 0) > 0, 'the fourth frame of any kind is over');
    const requests = new SessionRateGate({ framesPerSecond: 100, requestsPerSecond: 2, samplesPerSecond: 100 }, 0);
    requests.admit(request, 0);
    requests.admit(vitals, 0);
    requests.admit(request, 0);
    assert.ok(requests.admit(request, 0) > 0);
  });
});

describe('LogLimiter', () => {
  it('writes a few lines a minute per kind, then says how many it left out', () => {
    const clock = { now: 0 };
    const lines: Array<{ fields: object; message: string }> = [];
    const push = (fields: object, message: string) => lines.push({ fields, message });
    let suppressed = 0;
    const limiter = new LogLimiter(
      { debug: push, info: push, warn: push, error: push },
      { perMinute: 2, now: () => clock.now, onSuppressed: () => suppressed++ },
    );
    for (let i = 0; i < 5; i++) limiter.warn('auth', { i }, 'failed');
    limiter.warn('other', {}, 'another kind');
    assert.deepEqual(
      lines.map((l) => l.message),
      ['failed', 'failed', 'another kind'],
    );
    assert.equal(suppressed, 3);
    clock.now += 60_000;
    limiter.warn('auth', { i: 5 }, 'failed');
    assert.deepEqual(lines.at(-1)?.fields, { i: 5, suppressed: 3 });
  });
});

describe('AddressRanges', () => {
  it('matches IPv4, IPv6 and IPv4-mapped peers against CIDR ranges and single addresses', () => {
    const ranges = new AddressRanges(['192.168.0.0/16', 'fd00::/8', '203.0.113.7'], 'legacy.allow');
    assert.equal(ranges.has('192.168.4.2'), true);
    assert.equal(ranges.has('::ffff:192.168.4.2'), true);
    assert.equal(ranges.has('192.169.0.1'), false);
    assert.equal(ranges.has('fd12::1'), true);
    assert.equal(ranges.has('fe80::1'), false);
    assert.equal(ranges.has('203.0.113.7'), true);
    assert.equal(ranges.has('203.0.113.8'), false);
    assert.equal(ranges.has(undefined), false);
  });

  it('refuses a range that is not one, naming it and the setting', () => {
    for (const bad of ['192.168.0.0/33', 'pi.local', '10.0.0.0/8/1', '::1/129', '10.0.0.0/']) {
      assert.throws(
        () => new AddressRanges([bad], 'legacy.allow'),
        (err: unknown) =>
          err instanceof ConfigError && err.message.includes('legacy.allow') && err.message.includes(bad),
      );
    }
  });
});
