// What a task's handler returned or threw, as the result the node journals and sends: whatever it
// holds, the `task.result` frame that carries it is one the primary's decoder takes. A result it
// refuses (a `constructor` key, nesting too deep) would cost the node its link at every resend of
// the unacknowledged result: the task fails instead, saying why.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TaskError } from '../../../src/protocol/errors.js';
import { FrameDecoder } from '../../../src/protocol/frame-decoder.js';
import { encodeFrame } from '../../../src/protocol/frame-encoder.js';
import { TASK_RESULT_DEPTH } from '../../../src/protocol/parse-json.js';
import type { TaskResultPayload } from '../../../src/protocol/tasks.js';
import {
  endingOf,
  endingOfError,
  GoingDown,
  MAX_RESULT_BYTES,
  sendableResult,
  TaskFailure,
} from '../../../src/secondary/task-outcome.js';

const nested = (levels: number): Record<string, unknown> => (levels <= 1 ? {} : { a: nested(levels - 1) });
/** A value with an own key of that name (an object literal's `__proto__` would set the prototype). */
const withKey = (key: string): Record<string, unknown> =>
  JSON.parse(`{"name":"x","deep":{${JSON.stringify(key)}:"Foo"}}`);
/** The `task.result` frame a node sends with this result. */
const resultFrame = (result: unknown) =>
  encodeFrame({
    t: 'task.result',
    p: { taskId: 't', key: 't.1', state: 'succeeded', startedAt: 1, endedAt: 2, result },
  });

describe('task outcome', () => {
  it('a result with a __proto__, constructor or prototype key fails the task ERR_TASK_FAILED, naming the key', () => {
    // Found by review: {name, constructor: 'Foo'} was journaled and sent; the primary's decoder
    // refused the frame and closed the link, and the node sent it again first on every new link.
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const value = key === 'constructor' ? { name: 'x', constructor: 'Foo' } : withKey(key);
      assert.throws(() => new FrameDecoder({}).push(resultFrame(value)), { code: 'ERR_FORBIDDEN_KEY' });
      const ending = endingOf(value);
      assert.equal(ending.state, 'failed', key);
      assert.equal(ending.result, undefined);
      assert.equal(ending.error?.code, 'ERR_TASK_FAILED');
      assert.match(ending.error?.message ?? '', new RegExp(`cannot be sent to the primary: forbidden key "${key}"`));
    }
    // The words alone are fine: in a string, or as a value.
    assert.deepEqual(endingOf({ note: 'constructor __proto__', kind: 'prototype' }), {
      state: 'succeeded',
      result: { note: 'constructor __proto__', kind: 'prototype' },
    });
  });

  it('the deepest result accepted is the deepest a task.result frame the primary decodes holds', () => {
    let deepest = 0;
    for (let levels = 1; levels <= 40; levels++) {
      const ending = endingOf(nested(levels));
      if (ending.state !== 'succeeded') {
        assert.equal(ending.error?.code, 'ERR_TASK_FAILED');
        assert.match(ending.error?.message ?? '', /cannot be sent to the primary: JSON nested deeper than 30 levels/);
        break;
      }
      deepest = levels;
    }
    assert.equal(deepest, 32 - TASK_RESULT_DEPTH);
    assert.doesNotThrow(() => new FrameDecoder({}).push(resultFrame(nested(deepest))));
    assert.throws(() => new FrameDecoder({}).push(resultFrame(nested(deepest + 1))), { code: 'ERR_TOO_DEEP' });
    // In an array too.
    const arrays = (levels: number): unknown => (levels <= 1 ? [1] : [arrays(levels - 1)]);
    assert.equal(endingOf(arrays(deepest)).state, 'succeeded');
    assert.equal(endingOf(arrays(deepest + 1)).state, 'failed');
  });

  it('what was right before still is: plain results, none, too large, not JSON, going down', () => {
    assert.deepEqual(endingOf({ a: [1, 'b', null] }), { state: 'succeeded', result: { a: [1, 'b', null] } });
    assert.deepEqual(endingOf(undefined), { state: 'succeeded' });
    assert.deepEqual(
      endingOf(() => 1),
      { state: 'succeeded' },
    );
    const big = endingOf('x'.repeat(MAX_RESULT_BYTES));
    assert.deepEqual([big.state, big.error?.code], ['failed', 'ERR_TASK_FAILED']);
    assert.match(big.error?.message ?? '', /bytes of JSON, more than/);
    assert.match(endingOf({ n: 1n }).error?.message ?? '', /not JSON/);
    const down = new GoingDown(async () => {});
    assert.deepEqual(endingOf(down), { state: 'succeeded', result: { goingDown: true }, goingDown: down });
  });

  it('a thrown TaskFailure keeps its code; a result it carries that cannot be sent is dropped, and its message says why', () => {
    const kept = endingOfError(new TaskFailure('ERR_TASK_FAILED', 'exit 3', { exitCode: 3 }));
    assert.deepEqual(kept, {
      state: 'failed',
      error: { code: 'ERR_TASK_FAILED', message: 'exit 3' },
      result: { exitCode: 3 },
    });
    const dropped = endingOfError(new TaskFailure('ERR_TASK_ARGS', 'bad', { constructor: 'Foo' }));
    assert.equal(dropped.state, 'failed');
    assert.equal(dropped.result, undefined);
    assert.equal(dropped.error?.code, 'ERR_TASK_ARGS');
    assert.match(dropped.error?.message ?? '', /^bad \(its result was dropped: .*forbidden key "constructor"/);
    const deep = endingOfError(new TaskFailure('ERR_TASK_TIMEOUT', 'slow', nested(40)));
    assert.deepEqual([deep.state, deep.result], ['timed_out', undefined]);
    assert.match(deep.error?.message ?? '', /nested deeper than 30 levels/);
  });

  it('a thrown error whose code or message a task.result cannot carry still makes a result the primary takes', () => {
    // A plugin in plain JS can give TaskError any code; the result's schema takes a string of 64.
    const long = endingOfError(new TaskError('ERR_'.padEnd(100, 'X') as never, 'nope'));
    assert.deepEqual([long.state, long.error?.code], ['failed', 'ERR_TASK_FAILED']);
    assert.match(
      long.error?.message ?? '',
      /^nope \(the task's error code "ERR_X+…" is not text of at most 64 characters\)$/,
    );
    const numeric = endingOfError(new TaskError(42 as never, 'nope'));
    assert.deepEqual([numeric.state, numeric.error?.code], ['failed', 'ERR_TASK_FAILED']);
    // A thrown value that cannot even be made text.
    const odd = endingOfError(Object.create(null));
    assert.deepEqual(odd, {
      state: 'failed',
      error: { code: 'ERR_TASK_FAILED', message: 'the task threw a value that cannot be shown as text' },
    });
    assert.equal(endingOfError(new TaskError('ERR_TASK_CANCELLED', 'stop')).state, 'cancelled');
  });

  it('sendableResult: a journaled result the primary would refuse becomes failed, without it; others are kept as they are', () => {
    const base = { taskId: 't', key: 't.1', startedAt: 1, endedAt: 2, stdout: 'out\n' } as const;
    const fine: TaskResultPayload = { ...base, state: 'succeeded', result: { a: 1 } };
    assert.equal(sendableResult(fine), fine);
    const none: TaskResultPayload = { ...base, state: 'failed', error: { code: 'ERR_TASK_FAILED', message: 'x' } };
    assert.equal(sendableResult(none), none);
    const bad = sendableResult({ ...base, state: 'succeeded', result: { name: 'x', constructor: 'Foo' } });
    assert.deepEqual(Object.keys(bad).sort(), ['endedAt', 'error', 'key', 'startedAt', 'state', 'stdout', 'taskId']);
    assert.deepEqual([bad.state, bad.error?.code, bad.stdout], ['failed', 'ERR_TASK_FAILED', 'out\n']);
    assert.match(bad.error?.message ?? '', /forbidden key "constructor".*\(succeeded\)$/);
    assert.doesNotThrow(() => new FrameDecoder({}).push(encodeFrame({ t: 'task.result', p: bad })));
  });
});
