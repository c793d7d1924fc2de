// The history upkeep and a wall clock that steps: a step of the wall clock against the monotonic
// one makes the upkeep wait (no rollup, no pruning by a time that may step back), a step undone
// within the wait costs nothing, and a new time that stands is trusted after the wait.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { silentLogger } from '../../../src/common/logger.js';
import { HistoryUpkeep } from '../../../src/store/history-upkeep.js';
import type { Store } from '../../../src/store/store-api.js';

it('waits out a step of the wall clock before it rolls up or prunes by the new time', async () => {
  let mono = 1_000;
  let wall = Date.UTC(2026, 11, 6);
  const clock = { wallMs: () => wall, monotonicMs: () => mono };
  const passes: number[] = [];
  const store = {
    rollupStep: async (now: number) => {
      passes.push(now);
      return false;
    },
    catchUpNodes: async () => {},
    pruneChunk: async () => 0,
  } as unknown as Store;
  const upkeep = new HistoryUpkeep(store, silentLogger, { clock, stepToleranceMs: 60_000, stepHoldMs: 600_000 });
  const tick = async (ms: number) => {
    mono += ms;
    wall += ms;
    await upkeep.run();
  };
  await tick(30_000);
  assert.equal(passes.length, 1, 'a steady clock: a pass');
  wall += 10 * 365 * 86_400_000; // ten years ahead
  await tick(30_000);
  assert.deepEqual([passes.length, upkeep.holding], [1, true], 'no pass right after the step');
  wall -= 10 * 365 * 86_400_000; // and back
  await tick(30_000);
  assert.equal(passes.length, 1, 'stepping back is a step too: still waiting');
  for (let i = 0; i < 19; i++) await tick(30_000);
  assert.equal(passes.length, 1, 'within the hold');
  await tick(30_000);
  assert.deepEqual([passes.length, upkeep.holding], [2, false], 'after the hold, on the time that stood');
  assert.ok(Math.abs((passes[1] as number) - wall) < 1, 'by the wall clock');
  assert.ok(
    passes.every((p) => p < Date.UTC(2030, 0, 1)),
    'never by the ten-years-ahead time',
  );
});
