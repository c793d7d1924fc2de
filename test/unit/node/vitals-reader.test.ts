import assert from 'node:assert/strict';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { VitalsReader, type VitalsSample } from '../../../src/node/vitals-reader.js';
import { validateMessage } from '../../../src/protocol/messages.js';
import { copyFixture, fixtureRoot, tempDir } from './fixture-root.js';

const NOW_MS = 1_718_000_123_456;

/** Asserts the disk entry is the data dir's filesystem as statfs sees it now. */
async function assertDataDisk(sample: VitalsSample, dataDir: string, mount: string): Promise<void> {
  const stats = await statfs(dataDir);
  assert.equal(sample.disks.length, 1);
  const [disk] = sample.disks;
  assert.equal(disk?.mount, mount);
  assert.equal(disk?.totalBytes, stats.blocks * stats.bsize);
  // Other processes write to the same filesystem while the test runs: free space moves a little.
  assert.ok(Math.abs((disk?.freeBytes ?? 0) - stats.bavail * stats.bsize) < 256 * 1024 * 1024);
}

describe('VitalsReader', () => {
  it('reads every field of a Raspberry Pi 4 from its /proc and /sys', async (t) => {
    const dataDir = await tempDir(t);
    const reader = new VitalsReader({ root: fixtureRoot('pi4'), dataDir, now: () => NOW_MS + 0.7 });
    const sample = await reader.read();
    const { disks, ...rest } = sample;
    assert.deepEqual(rest, {
      ts: NOW_MS,
      cpuPercent: 15.5, // the first sample: busy share since boot
      cpuMhz: 1500,
      ramAvailableBytes: 3_121_408 * 1024,
      swapFreeBytes: 102_396 * 1024,
      load1: 0.52,
      load5: 0.58,
      load15: 0.59,
      uptimeS: 123_456.78,
      tempC: 48.686,
      throttled: { now: ['under-voltage', 'throttled'], sinceBoot: ['under-voltage', 'throttled'] },
      nets: [
        { iface: 'eth0', rxBytes: 9_876_543_210, txBytes: 1_234_567_890 },
        { iface: 'wlan0', rxBytes: 0, txBytes: 0 },
      ],
    });
    await assertDataDisk(sample, dataDir, '/');
    assert.doesNotThrow(() => validateMessage({ t: 'vitals', p: { ...sample, seq: 1 } }));
  });

  it('leaves out what a VM does not have: no tempC, cpuMhz or throttled', async (t) => {
    const reader = new VitalsReader({ root: fixtureRoot('vm'), dataDir: await tempDir(t), now: () => NOW_MS });
    const sample = await reader.read();
    for (const field of ['tempC', 'cpuMhz', 'throttled', 'dropped']) assert.equal(field in sample, false, field);
    const { disks, ...rest } = sample;
    assert.deepEqual(rest, {
      ts: NOW_MS,
      cpuPercent: 60.64,
      ramAvailableBytes: 1_559_204 * 1024,
      swapFreeBytes: 0,
      load1: 0.08,
      load5: 0.03,
      load15: 0.01,
      uptimeS: 94.07,
      nets: [
        { iface: 'ens3', rxBytes: 48_213_377, txBytes: 1_180_223 },
        { iface: 'docker0', rxBytes: 0, txBytes: 0 },
      ],
    });
    assert.equal(disks.length, 1);
    assert.doesNotThrow(() => validateMessage({ t: 'vitals', p: { ...sample, seq: 1 } }));
  });

  it('cpuPercent: the busy share between two successive /proc/stat readings', async (t) => {
    const root = await copyFixture(t, 'pi4');
    const reader = new VitalsReader({ root, dataDir: root });
    const writeStat = (line: string) => writeFile(join(root, 'proc/stat'), `${line}\nintr 1 0\nctxt 2\n`);
    assert.equal((await reader.read()).cpuPercent, 15.5);
    // +600 user, +150 system, +1200 idle, +20 iowait, +30 softirq: 780 busy of 2000 ticks.
    await writeStat('cpu  120600 500 30150 841200 5020 0 4530 0 0 0');
    assert.equal((await reader.read()).cpuPercent, 39);
    // No tick elapsed (two reads within one jiffy): the last value again, not 0 or NaN.
    assert.equal((await reader.read()).cpuPercent, 39);
    // iowait went backwards (proc(5) allows it): clamped, never above 100.
    await writeStat('cpu  120900 500 30150 841200 4920 0 4530 0 0 0');
    assert.equal((await reader.read()).cpuPercent, 100);
    await writeStat('cpu  120900 500 30150 842200 4920 0 4530 0 0 0');
    assert.equal((await reader.read()).cpuPercent, 0);
  });

  it('tempC: prefers the CPU zone over others, keeps the zone it found, re-reads its temperature', async (t) => {
    const root = await copyFixture(t, 'vm');
    const zone = async (n: number, type: string, milliC: string) => {
      const dir = join(root, `sys/class/thermal/thermal_zone${n}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'type'), `${type}\n`);
      await writeFile(join(dir, 'temp'), `${milliC}\n`);
    };
    await zone(0, 'acpitz', '27800');
    await zone(1, 'iwlwifi_1', '40000');
    await zone(2, 'x86_pkg_temp', '52000');
    await mkdir(join(root, 'sys/class/thermal/cooling_device0'));
    const reader = new VitalsReader({ root, dataDir: root });
    assert.equal((await reader.read()).tempC, 52);
    await zone(0, 'cpu-thermal', '27800');
    await zone(2, 'x86_pkg_temp', '53500');
    assert.equal((await reader.read()).tempC, 53.5);
    await zone(2, 'x86_pkg_temp', 'not ready');
    assert.equal('tempC' in (await reader.read()), false);
  });

  it('tempC: a CPU-like zone type, else thermal_zone0', async (t) => {
    const root = await copyFixture(t, 'pi4');
    const zoneDir = (n: number) => join(root, `sys/class/thermal/thermal_zone${n}`);
    await writeFile(join(zoneDir(0), 'type'), 'acpitz\n');
    await mkdir(zoneDir(10));
    await writeFile(join(zoneDir(10), 'type'), 'cpu_thermal\n');
    await writeFile(join(zoneDir(10), 'temp'), '61250\n');
    assert.equal((await new VitalsReader({ root, dataDir: root }).read()).tempC, 61.25);
    await rm(zoneDir(10), { recursive: true });
    assert.equal((await new VitalsReader({ root, dataDir: root }).read()).tempC, 48.686);
  });

  it('disks: the mount point of the resolved data dir is the longest whole-path prefix in /proc/mounts', async (t) => {
    const root = await copyFixture(t, 'pi4');
    const dataDir = join(root, 'data dir', 'node');
    await mkdir(dataDir, { recursive: true });
    const escaped = (path: string) => path.replaceAll(' ', '\\040');
    const extra = [`${root}/data`, `${root}/data dir`, `${root}/data dir/node-old`].map(
      (point) => `/dev/sdb1 ${escaped(point)} ext4 rw,relatime 0 0`,
    );
    await writeFile(join(root, 'proc/mounts'), `/dev/mmcblk0p2 / ext4 rw 0 0\n${extra.join('\n')}\n`);
    const reader = new VitalsReader({ root, dataDir: join(root, 'data dir', '.', 'node', '..', 'node') });
    await assertDataDisk(await reader.read(), dataDir, `${root}/data dir`);
  });

  it('disks: "/" when /proc/mounts is missing, empty when the data dir is missing; never throws', async (t) => {
    const root = await copyFixture(t, 'vm');
    await rm(join(root, 'proc/mounts'));
    await assertDataDisk(await new VitalsReader({ root, dataDir: root }).read(), root, '/');
    const missing = await new VitalsReader({ root, dataDir: join(root, 'no-such-dir') }).read();
    assert.deepEqual(missing.disks, []);
  });

  it('optional sources missing or broken leave their fields absent or empty, never an exception', async (t) => {
    const root = await copyFixture(t, 'pi4');
    await rm(join(root, 'proc/net/dev'));
    await rm(join(root, 'sys'), { recursive: true }); // the device tree still says Pi: vcgencmd is tried
    const sample = await new VitalsReader({ root, dataDir: root, exec: () => Promise.reject(new Error('no vcgencmd')) })
      .read()
      .catch((err: unknown) => assert.fail(String(err)));
    for (const field of ['tempC', 'cpuMhz', 'throttled']) assert.equal(field in sample, false, field);
    assert.deepEqual(sample.nets, []);
  });

  for (const file of ['proc/stat', 'proc/meminfo', 'proc/loadavg', 'proc/uptime']) {
    it(`throws an error naming ${file} when it is missing`, async (t) => {
      const root = await copyFixture(t, 'vm');
      await rm(join(root, file));
      await assert.rejects(new VitalsReader({ root, dataDir: root }).read(), (err: Error) => {
        assert.ok(err.message.includes(join(root, file)), err.message);
        return true;
      });
    });
  }

  it('throws an error naming the file when a required file is not in its format', async (t) => {
    const root = await copyFixture(t, 'vm');
    await writeFile(join(root, 'proc/meminfo'), 'MemTotal: 1 kB\n');
    await assert.rejects(new VitalsReader({ root, dataDir: root }).read(), /proc\/meminfo has no MemAvailable/);
    await writeFile(join(root, 'proc/stat'), 'intr 1\n');
    await assert.rejects(new VitalsReader({ root, dataDir: root }).read(), /proc\/stat has no aggregate "cpu" line/);
  });

  it('rejects a missing dataDir at construction', () => {
    assert.throws(() => new VitalsReader({ dataDir: '' }), /dataDir/);
  });
});
