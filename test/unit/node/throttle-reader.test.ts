import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  DEVICE_TREE_MODEL_PATH,
  decodeThrottled,
  GET_THROTTLED_PATH,
  parseThrottledText,
  VCGENCMD_CACHE_MS,
  VCGENCMD_RETRY_AFTER_FAILURE_MS,
} from '../../../src/node/throttle-reader.js';
import { VitalsReader } from '../../../src/node/vitals-reader.js';
import { copyFixture, fixtureRoot, tempDir } from './fixture-root.js';

/** A Pi 4 whose kernel has no get_throttled file, read with an injected vcgencmd and clock. */
async function piWithoutSysfs(t: TestContext, answer: () => Promise<string>) {
  const root = await copyFixture(t, 'pi4');
  await rm(join(root, GET_THROTTLED_PATH));
  const calls: string[][] = [];
  const clock = { nowMs: 1_718_000_000_000 };
  const reader = new VitalsReader({
    root,
    dataDir: root,
    now: () => clock.nowMs,
    exec: (file, args) => {
      calls.push([file, ...args]);
      return answer();
    },
  });
  return { root, reader, calls, clock };
}

describe('throttled flags', () => {
  it('decodes bits 0–3 (now) and 16–19 (since boot)', () => {
    assert.deepEqual(decodeThrottled(0x0), { now: [], sinceBoot: [] });
    assert.deepEqual(decodeThrottled(0x50005), {
      now: ['under-voltage', 'throttled'],
      sinceBoot: ['under-voltage', 'throttled'],
    });
    assert.deepEqual(decodeThrottled(0x80008), { now: ['soft-temp-limit'], sinceBoot: ['soft-temp-limit'] });
    assert.deepEqual(decodeThrottled(0x20000), { now: [], sinceBoot: ['freq-capped'] });
    assert.deepEqual(decodeThrottled(0xf000f), {
      now: ['under-voltage', 'freq-capped', 'throttled', 'soft-temp-limit'],
      sinceBoot: ['under-voltage', 'freq-capped', 'throttled', 'soft-temp-limit'],
    });
  });

  it('parses the sysfs text (hex without 0x, as the kernel prints it) and the vcgencmd output', () => {
    assert.equal(parseThrottledText('50005\n'), 0x50005);
    assert.equal(parseThrottledText('0\n'), 0);
    assert.equal(parseThrottledText('0x80008'), 0x80008);
    assert.equal(parseThrottledText('throttled=0x50005\n'), 0x50005);
    assert.equal(parseThrottledText(''), undefined);
    assert.equal(parseThrottledText('throttled=oops'), undefined);
  });

  it('reads the sysfs file on a Pi, whatever it holds, and never runs vcgencmd', async (t) => {
    const root = await copyFixture(t, 'pi4');
    const calls: string[] = [];
    const exec = async (file: string) => {
      calls.push(file);
      return 'throttled=0x0\n';
    };
    const reader = new VitalsReader({ root, dataDir: root, exec });
    assert.deepEqual((await reader.read()).throttled, {
      now: ['under-voltage', 'throttled'],
      sinceBoot: ['under-voltage', 'throttled'],
    });
    await writeFile(join(root, GET_THROTTLED_PATH), '0\n');
    assert.deepEqual((await reader.read()).throttled, { now: [], sinceBoot: [] });
    await writeFile(join(root, GET_THROTTLED_PATH), '80008\n');
    assert.deepEqual((await reader.read()).throttled, { now: ['soft-temp-limit'], sinceBoot: ['soft-temp-limit'] });
    await writeFile(join(root, GET_THROTTLED_PATH), 'garbage\n');
    assert.equal('throttled' in (await reader.read()), false);
    assert.deepEqual(calls, []);
  });

  it('not a Pi (no device tree, or another board): no throttled and no vcgencmd', async (t) => {
    const calls: string[] = [];
    const exec = async (file: string) => {
      calls.push(file);
      return 'throttled=0x0\n';
    };
    const vm = new VitalsReader({ root: fixtureRoot('vm'), dataDir: await tempDir(t), exec });
    assert.equal('throttled' in (await vm.read()), false);
    const { root } = await piWithoutSysfs(t, async () => 'throttled=0x0\n');
    await writeFile(join(root, DEVICE_TREE_MODEL_PATH), 'Pine64 ROCKPro64 v2.1\0');
    const rock = new VitalsReader({ root, dataDir: root, exec });
    assert.equal('throttled' in (await rock.read()), false);
    assert.deepEqual(calls, []);
  });

  it('vcgencmd fallback: runs at most once per 60 s and reuses its answer', async (t) => {
    const { reader, calls, clock } = await piWithoutSysfs(t, async () => 'throttled=0x50005\n');
    const flags = { now: ['under-voltage', 'throttled'], sinceBoot: ['under-voltage', 'throttled'] };
    assert.deepEqual((await reader.read()).throttled, flags);
    assert.deepEqual(calls, [['vcgencmd', 'get_throttled']]);
    clock.nowMs += VCGENCMD_CACHE_MS - 1;
    assert.deepEqual((await reader.read()).throttled, flags);
    assert.equal(calls.length, 1);
    clock.nowMs += 1;
    assert.deepEqual((await reader.read()).throttled, flags);
    assert.equal(calls.length, 2);
    clock.nowMs -= 3_600_000; // a clock stepped back by NTP must not freeze the cached answer
    await reader.read();
    assert.equal(calls.length, 3);
  });

  it('vcgencmd fallback: concurrent reads share one run', async (t) => {
    const { reader, calls } = await piWithoutSysfs(
      t,
      () => new Promise((resolve) => setTimeout(() => resolve('throttled=0x0\n'), 20)),
    );
    const samples = await Promise.all([reader.read(), reader.read(), reader.read()]);
    assert.deepEqual(
      samples.map((s) => s.throttled),
      Array(3).fill({ now: [], sinceBoot: [] }),
    );
    assert.equal(calls.length, 1);
  });

  it('vcgencmd fallback: after a failure, throttled is absent and vcgencmd rests for 10 min', async (t) => {
    let fail = true;
    const { reader, calls, clock } = await piWithoutSysfs(t, async () => {
      if (fail) throw Object.assign(new Error('spawn vcgencmd ENOENT'), { code: 'ENOENT' });
      return 'throttled=0x80008\n';
    });
    assert.equal('throttled' in (await reader.read()), false);
    clock.nowMs += VCGENCMD_RETRY_AFTER_FAILURE_MS - 1;
    assert.equal('throttled' in (await reader.read()), false);
    assert.equal(calls.length, 1);
    fail = false;
    clock.nowMs += 1;
    assert.deepEqual((await reader.read()).throttled, { now: ['soft-temp-limit'], sinceBoot: ['soft-temp-limit'] });
    assert.equal(calls.length, 2);
  });

  it('vcgencmd fallback: output it cannot parse counts as a failure', async (t) => {
    const { reader, calls, clock } = await piWithoutSysfs(t, async () => 'VCHI initialization failed\n');
    assert.equal('throttled' in (await reader.read()), false);
    clock.nowMs += VCGENCMD_CACHE_MS;
    assert.equal('throttled' in (await reader.read()), false);
    assert.equal(calls.length, 1);
  });
});
