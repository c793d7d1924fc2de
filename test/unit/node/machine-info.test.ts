import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readBootId, readMachineId, readMachineInfo } from '../../../src/node/machine-info.js';
import { validateMessage } from '../../../src/protocol/messages.js';
import { copyFixture, fixtureRoot } from './fixture-root.js';

describe('machine info', () => {
  it('reads a Raspberry Pi 4 from /proc, /sys and /etc', async () => {
    const info = await readMachineInfo({ root: fixtureRoot('pi4'), version: '0.1.0', useLibrary: false });
    assert.deepEqual(info, {
      hostname: 'pi-kitchen',
      os: 'Debian GNU/Linux 12',
      kernel: '6.6.31+rpt-rpi-v8',
      arch: os.arch(),
      cpuModel: 'ARM Cortex-A72',
      cpuCores: 4,
      cpuMinMhz: 600,
      cpuMaxMhz: 1500,
      ramTotalBytes: 3_884_328 * 1024,
      swapTotalBytes: 102_396 * 1024,
      board: 'Raspberry Pi 4 Model B Rev 1.4',
      bootId: '5c0b6a1e-8d2f-4b7a-9e3c-2f1d0a9b8c7d',
      machineId: '8f3c2b1a0d9e4f7a6b5c4d3e2f1a0b9c',
      version: '0.1.0',
    });
    assert.doesNotThrow(() => validateMessage({ t: 'info', p: info }));
  });

  it('leaves out what a VM does not have: no board, no cpu speeds', async () => {
    const info = await readMachineInfo({ root: fixtureRoot('vm'), version: '0.1.0', useLibrary: false });
    assert.deepEqual(info, {
      hostname: 'ci-runner-7',
      os: 'Ubuntu 22.04.4 LTS', // from /usr/lib/os-release: this VM has no /etc/os-release
      kernel: '5.15.0-107-generic',
      arch: os.arch(),
      cpuModel: 'Intel Xeon Processor (Cascadelake)',
      cpuCores: 2,
      ramTotalBytes: 2_014_432 * 1024,
      swapTotalBytes: 0,
      bootId: '0e7d1c2b-3a4f-4e5d-8c6b-7a8f9e0d1c2b',
      machineId: 'f0e1d2c3b4a5968778695a4b3c2d1e0f', // from /var/lib/dbus: this VM has no /etc/machine-id
      version: '0.1.0',
    });
    assert.doesNotThrow(() => validateMessage({ t: 'info', p: info }));
  });

  it('machine id: /etc/machine-id, else D-Bus, ignoring an uninitialized or empty file', async (t) => {
    const root = await copyFixture(t, 'pi4');
    assert.equal(await readMachineId(root), '8f3c2b1a0d9e4f7a6b5c4d3e2f1a0b9c');
    await mkdir(join(root, 'var/lib/dbus'), { recursive: true });
    await writeFile(join(root, 'var/lib/dbus/machine-id'), '0123456789abcdef0123456789abcdef\n');
    await writeFile(join(root, 'etc/machine-id'), 'uninitialized\n');
    assert.equal(await readMachineId(root), '0123456789abcdef0123456789abcdef');
    await writeFile(join(root, 'etc/machine-id'), '');
    assert.equal(await readMachineId(root), '0123456789abcdef0123456789abcdef');
    await rm(join(root, 'var/lib/dbus/machine-id'));
    assert.equal(await readMachineId(root), undefined);
  });

  it('boot id: trimmed, undefined when missing', async (t) => {
    const root = await copyFixture(t, 'vm');
    assert.equal(await readBootId(root), '0e7d1c2b-3a4f-4e5d-8c6b-7a8f9e0d1c2b');
    await rm(join(root, 'proc/sys/kernel/random/boot_id'));
    assert.equal(await readBootId(root), undefined);
    const info = await readMachineInfo({ root, version: '0.1.0', useLibrary: false });
    assert.equal('bootId' in info, false);
  });

  it('throws an error naming /proc/meminfo when it is missing', async (t) => {
    const root = await copyFixture(t, 'vm');
    await rm(join(root, 'proc/meminfo'));
    await assert.rejects(readMachineInfo({ root, version: '0.1.0', useLibrary: false }), /proc\/meminfo/);
  });

  it('this machine, through systeminformation and without it, agrees on the basics', async () => {
    const [withLibrary, withoutLibrary] = await Promise.all([
      readMachineInfo({ version: '0.1.0' }),
      readMachineInfo({ version: '0.1.0', useLibrary: false }),
    ]);
    for (const info of [withLibrary, withoutLibrary]) {
      assert.doesNotThrow(() => validateMessage({ t: 'info', p: info }));
      assert.equal(info.hostname, os.hostname());
      assert.equal(info.kernel, os.release());
      assert.equal(info.ramTotalBytes, os.totalmem());
    }
    for (const field of ['os', 'cpuCores', 'swapTotalBytes', 'board', 'bootId', 'machineId'] as const) {
      assert.equal(withLibrary[field], withoutLibrary[field], field);
    }
  });
});
