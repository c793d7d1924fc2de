import assert from 'node:assert/strict';
import childProcess from 'node:child_process';
import { rm } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { GET_THROTTLED_PATH } from '../../../src/node/throttle-reader.js';
import { VitalsReader } from '../../../src/node/vitals-reader.js';
import { validateMessage } from '../../../src/protocol/messages.js';
import { copyFixture, tempDir } from './fixture-root.js';

const CHILD_PROCESS_FUNCTIONS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;

/**
 * Replaces every way to start a process with a recorder that refuses, for the rest of the test.
 * `syncBuiltinESMExports` carries the change to ESM named imports (`import { execFile }`).
 */
function spyOnChildProcess(t: TestContext): string[] {
  const calls: string[] = [];
  const module = childProcess as unknown as Record<string, unknown>;
  const originals = CHILD_PROCESS_FUNCTIONS.map((name) => module[name]);
  for (const name of CHILD_PROCESS_FUNCTIONS) {
    module[name] = () => {
      calls.push(name);
      throw new Error(`test: ${name} called while child processes are forbidden`);
    };
  }
  syncBuiltinESMExports();
  t.after(() => {
    CHILD_PROCESS_FUNCTIONS.forEach((name, i) => {
      module[name] = originals[i];
    });
    syncBuiltinESMExports();
  });
  return calls;
}

describe('VitalsReader on this machine', () => {
  it('returns valid samples, the median read under 20 ms over 20 reads', async (t) => {
    // The cost is measured in bench/ (about 1 ms); this catches a read gone to forking tools
    // (tens of ms every time), and the median ignores a read that waited for a busy machine.
    const reader = new VitalsReader({ dataDir: await tempDir(t) });
    const readMs: number[] = [];
    for (let seq = 1; seq <= 20; seq++) {
      const started = performance.now();
      const sample = await reader.read();
      readMs.push(performance.now() - started);
      assert.doesNotThrow(() => validateMessage({ t: 'vitals', p: { ...sample, seq } }));
      assert.equal(sample.disks.length, 1);
    }
    const medianMs = readMs.sort((a, b) => a - b)[10] as number;
    assert.ok(medianMs < 20, `median ${medianMs.toFixed(2)} ms per read`);
  });

  it('forks nothing when the sysfs file exists or the machine is not a Pi', async (t) => {
    const dataDir = await tempDir(t);
    const calls = spyOnChildProcess(t);
    const realMachine = new VitalsReader({ dataDir });
    const pi = new VitalsReader({ root: await copyFixture(t, 'pi4'), dataDir });
    for (let i = 0; i < 5; i++) {
      await realMachine.read();
      assert.ok((await pi.read()).throttled);
    }
    assert.deepEqual(calls, []);
  });

  it('the spy does see the default vcgencmd exec (a Pi without the sysfs file)', async (t) => {
    const root = await copyFixture(t, 'pi4');
    await rm(join(root, GET_THROTTLED_PATH));
    const calls = spyOnChildProcess(t);
    const sample = await new VitalsReader({ root, dataDir: root }).read();
    assert.deepEqual(calls, ['execFile']);
    assert.equal('throttled' in sample, false);
  });
});
