import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKnownType, ProtocolError, replyTypeOf, validateMessage } from '../../../src/protocol/index.js';

const vitals = {
  seq: 1,
  ts: 1_700_000_000_000,
  cpuPercent: 12.5,
  ramAvailableBytes: 1_000_000,
  swapFreeBytes: 0,
  load1: 0.1,
  load5: 0.2,
  load15: 0.3,
  uptimeS: 100,
  disks: [{ mount: '/', freeBytes: 10, totalBytes: 20 }],
  nets: [{ iface: 'eth0', rxBytes: 1, txBytes: 2 }],
};

const rejects = (value: unknown) =>
  assert.throws(
    () => validateMessage(value),
    (err: unknown) => err instanceof ProtocolError && err.code === 'ERR_INVALID_MESSAGE',
  );

describe('message validation', () => {
  it('accepts a vitals sample and ignores unknown fields', () => {
    assert.deepEqual(validateMessage({ t: 'vitals', p: vitals }).p, vitals);
    assert.ok(validateMessage({ t: 'vitals', p: { ...vitals, futureField: 1 }, extra: true }));
  });
  it('rejects out-of-range and mistyped vitals', () => {
    rejects({ t: 'vitals', p: { ...vitals, cpuPercent: -1 } });
    rejects({ t: 'vitals', p: { ...vitals, cpuPercent: 101 } });
    rejects({ t: 'vitals', p: { ...vitals, seq: 2 ** 60 } });
    rejects({ t: 'vitals', p: { ...vitals, ramAvailableBytes: '1' } });
    rejects({ t: 'vitals', p: { ...vitals, disks: 'all' } });
  });
  it('names where a message is wrong', () => {
    assert.throws(() => validateMessage({ t: 'ack', p: { seq: 'x' } }), /invalid "ack" payload at \/seq/);
  });
  it('lets unknown types through for the layer above to answer, and never finds Object.prototype names', () => {
    assert.ok(validateMessage({ t: 'x-custom', p: { anything: [1] } }));
    for (const t of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) assert.equal(isKnownType(t), false);
  });
  it('pairs requests with their reply type', () => {
    assert.equal(replyTypeOf('auth'), 'welcome');
    assert.equal(replyTypeOf('query'), 'result');
  });
});
