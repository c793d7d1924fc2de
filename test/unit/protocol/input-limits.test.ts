// What a node may send (issue "Nobody in where they don't belong", Input): node ids of a known
// shape, bounded labels, names without control characters, each mount and interface once, and
// numbers in realistic ranges; and the agent's side, which makes a reading fit before sending it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { type VitalsPayload, validateMessage } from '../../../src/protocol/messages.js';
import { saneReading } from '../../../src/protocol/sane-vitals.js';
import { vitalsPayload } from '../../helpers/raw-peer.js';

const auth = (fields: Record<string, unknown>) => ({
  t: 'auth',
  id: 1,
  p: {
    nodeId: '0b6f4c1e-0000-4000-8000-000000000001',
    name: 'pi-1',
    labels: { rack: '1' },
    version: '1',
    protocol: { min: 1, max: 1 },
    machineId: 'm',
    clientNonce: 'a'.repeat(64),
    using: 'token',
    proof: 'b'.repeat(64),
    ...fields,
  },
});
const vitals = (extra: Record<string, unknown>) => ({ t: 'vitals', p: vitalsPayload(1, extra) });
const refused = (pattern: RegExp) => (err: unknown) =>
  err instanceof ProtocolError && err.code === 'ERR_INVALID_MESSAGE' && pattern.test(err.message);

describe('input limits', () => {
  it('accepts what a real node sends', () => {
    validateMessage(auth({ nodeId: 'pi-rack1.node_7' }));
    validateMessage(auth({ labels: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v'])) }));
    validateMessage(
      vitals({
        tempC: 61.5,
        cpuMhz: 1800,
        disks: [
          { mount: '/', freeBytes: 10, totalBytes: 20 },
          { mount: '/boot', freeBytes: 1, totalBytes: 2 },
        ],
        nets: [
          { iface: 'eth0', rxBytes: 1, txBytes: 2 },
          { iface: 'wlan0', rxBytes: 1, txBytes: 2 },
        ],
      }),
    );
  });

  it('refuses node ids, names and labels outside their shapes', () => {
    assert.throws(() => validateMessage(auth({ nodeId: 'a b' })), refused(/nodeId/));
    assert.throws(() => validateMessage(auth({ nodeId: '' })), refused(/nodeId/));
    assert.throws(() => validateMessage(auth({ nodeId: 'x'.repeat(65) })), refused(/nodeId/));
    assert.throws(() => validateMessage(auth({ name: 'pi\u001b[2J' })), refused(/name/));
    assert.throws(() => validateMessage(auth({ labels: { 'a=b': '1' } })), refused(/labels/));
    assert.throws(() => validateMessage(auth({ labels: { rack: 'x\n' } })), refused(/labels/));
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']));
    assert.throws(() => validateMessage(auth({ labels: many })), refused(/labels/));
  });

  it('refuses samples with values outside realistic ranges, repeated mounts or interfaces', () => {
    assert.throws(() => validateMessage(vitals({ tempC: 500 })), refused(/tempC/));
    assert.throws(() => validateMessage(vitals({ cpuMhz: 1e9 })), refused(/cpuMhz/));
    assert.throws(() => validateMessage(vitals({ load1: 1e7 })), refused(/load1/));
    assert.throws(() => validateMessage(vitals({ ramAvailableBytes: 2 ** 60 })), refused(/ramAvailableBytes/));
    assert.throws(() => validateMessage(vitals({ ts: Date.UTC(2200, 0, 1) })), refused(/ts/));
    const disk = { mount: '/', freeBytes: 1, totalBytes: 2 };
    assert.throws(() => validateMessage(vitals({ disks: [disk, disk] })), refused(/mount "\/" twice/));
    assert.throws(
      () => validateMessage(vitals({ disks: [{ mount: '/', freeBytes: 3, totalBytes: 2 }] })),
      refused(/more free than total/),
    );
    const net = { iface: 'eth0', rxBytes: 0, txBytes: 0 };
    assert.throws(() => validateMessage(vitals({ nets: [net, net] })), refused(/interface "eth0" twice/));
  });

  it('the agent makes a reading fit: odd values dropped or bounded, repeats dropped, and says which', () => {
    const reading = vitalsPayload(1, {
      tempC: -273.15,
      cpuMhz: Number.NaN,
      load1: 2e6,
      disks: [
        { mount: '/', freeBytes: 1, totalBytes: 2 },
        { mount: '/', freeBytes: 1, totalBytes: 2 },
      ],
      nets: [
        { iface: 'eth0', rxBytes: 0, txBytes: 0 },
        { iface: 'eth0', rxBytes: 0, txBytes: 0 },
      ],
    });
    // A stored sample (with its seq) goes through the same way: the seq is kept.
    const { reading: fixed, fixed: what } = saneReading(reading as unknown as VitalsPayload);
    assert.equal(fixed.seq, 1);
    assert.deepEqual(what.sort(), ['cpuMhz', 'disks', 'load1', 'nets', 'tempC']);
    validateMessage({ t: 'vitals', p: { ...fixed, seq: 1 } });
    assert.equal(fixed.tempC, undefined);
    assert.equal(fixed.load1, 1_000_000);
    assert.equal(fixed.disks.length, 1);
    const clean = saneReading(reading as unknown as VitalsPayload).reading;
    assert.deepEqual(saneReading(clean).fixed, [], 'a fitting reading is left alone');
  });
});
