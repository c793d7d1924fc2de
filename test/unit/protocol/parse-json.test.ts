// parseJson against a reference with the checks in their original order (depth scan, JSON.parse,
// forbidden keys by Object.keys): the same value, or the same error code and message, for any
// text and any maxDepth, on both sides of the length up to which forbidden keys are found by a
// walk of the value rather than by scans of the text.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { decodeUtf8, decodeUtf8Range, parseJson } from '../../../src/protocol/parse-json.js';
import { FORBIDDEN_KEYS, referenceParseJson } from '../../helpers/reference-json.js';

type Result = { value: unknown } | { code: string; message: string };

function outcome(parse: () => unknown): Result {
  try {
    return { value: parse() };
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `not a ProtocolError: ${String(err)}`);
    return { code: err.code, message: err.message };
  }
}

function assertSame(text: string, maxDepth: number): void {
  assert.deepEqual(
    outcome(() => parseJson(text, maxDepth)),
    outcome(() => referenceParseJson(text, maxDepth)),
    `text ${JSON.stringify(text.slice(0, 120))} (${text.length} chars), maxDepth ${maxDepth}`,
  );
}

/** JSON with forbidden keys, escapes and deep nesting among plain values. */
const arbKey = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(...FORBIDDEN_KEYS, '\\u005f_proto__', 'proto', '1', '0') },
);
const { tree: arbValue } = fc.letrec<{ tree: string }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 1 }).map((v) => JSON.stringify(v)),
    fc.array(tie('tree'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc
      .array(fc.tuple(arbKey, tie('tree')), { maxLength: 4 })
      .map((entries) => `{${entries.map(([k, v]) => `"${k.replace(/["\\]/g, '')}":${v}`).join(',')}}`),
    fc.integer({ min: 1, max: 40 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  ),
}));
/** Sometimes broken: cut short, or with brackets added. */
const arbText = fc.oneof(
  { weight: 4, arbitrary: arbValue },
  { weight: 1, arbitrary: fc.tuple(arbValue, fc.nat()).map(([t, n]) => t.slice(0, n % (t.length + 1))) },
  { weight: 1, arbitrary: fc.tuple(arbValue, fc.integer({ min: 1, max: 60 })).map(([t, n]) => '['.repeat(n) + t) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);
const arbMaxDepth = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(32, -1, 2.5, Number.POSITIVE_INFINITY, Number.NaN) },
);

describe('parseJson', () => {
  it('gives the value or the error of the scan-first reference, for any text and maxDepth (property)', () => {
    fc.assert(
      fc.property(arbText, arbMaxDepth, (text, maxDepth) => assertSame(text, maxDepth)),
      { numRuns: 5000 },
    );
  });

  it('agrees with the reference on texts padded across the length where the checks change (property)', () => {
    fc.assert(
      fc.property(arbText, fc.integer({ min: 200, max: 320 }), arbMaxDepth, (text, length, maxDepth) => {
        const padded = `${text}${' '.repeat(Math.max(0, length - text.length))}`;
        assertSame(padded, maxDepth);
        assertSame(`[${' '.repeat(Math.max(0, length - text.length - 2))}${text}]`, maxDepth);
      }),
      { numRuns: 2000 },
    );
  });

  it('ERR_TOO_DEEP wins over a forbidden key before the deep part, and over invalid JSON', () => {
    for (const text of [
      `{"__proto__":1,"p":${'['.repeat(33)}${']'.repeat(33)}}`,
      `{"a":{"constructor":1},"p":${'['.repeat(33)}`,
      `${'['.repeat(200)}`,
    ]) {
      assertSame(text, 32);
      assert.throws(() => parseJson(text), { code: 'ERR_TOO_DEEP', message: 'JSON nested deeper than 32 levels' });
    }
  });

  it('ERR_TOO_DEEP for a deep value that a duplicate key replaced (the text is what nests)', () => {
    for (const text of [`{"a":${'['.repeat(33)}${']'.repeat(33)},"a":1}`, `{"":{"":[[]],"":[]}}`]) {
      const maxDepth = text.startsWith('{"a"') ? 32 : 3;
      assert.throws(() => parseJson(text, maxDepth), { code: 'ERR_TOO_DEEP' });
      assertSame(text, maxDepth);
    }
  });

  it('ERR_FORBIDDEN_KEY for a forbidden key whose value a duplicate replaced', () => {
    const text = '{"p":{"__proto__":{"x":1},"__proto__":2}}';
    assert.throws(() => parseJson(text), {
      code: 'ERR_FORBIDDEN_KEY',
      message: 'forbidden key "__proto__" in message',
    });
    assertSame(text, 32);
  });

  it('names the first forbidden key in depth-first order', () => {
    const text = '{"a":[{"b":{"prototype":1}}],"constructor":2,"__proto__":3}';
    assert.throws(() => parseJson(text), {
      code: 'ERR_FORBIDDEN_KEY',
      message: 'forbidden key "prototype" in message',
    });
    assertSame(text, 32);
  });

  it('gives the same answers while Object.prototype has an enumerable property', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.prototype = { deep: [[[[[]]]]] };
    try {
      for (const text of ['{"a":{"b":1}}', '{"a":[{"b":{"c":1}}]}', '[{}]', '{"p":{"prototype":1}}']) {
        for (const maxDepth of [2, 3, 32]) assertSame(text, maxDepth);
      }
      assert.deepEqual(parseJson('{"a":{"b":1}}', 2), { a: { b: 1 } });
    } finally {
      delete proto.prototype;
    }
  });

  it('refuses 1 MiB of nesting quickly, without a RangeError', () => {
    const started = performance.now();
    for (const text of ['['.repeat(1 << 20), `${'['.repeat(1 << 19)}${']'.repeat(1 << 19)}`]) {
      assert.throws(() => parseJson(text), { code: 'ERR_TOO_DEEP' });
    }
    assert.ok(performance.now() - started < 1000);
  });
});

describe('decodeUtf8Range', () => {
  it('is decodeUtf8 of the subarray, valid or not (property)', () => {
    const arbBytes = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => new Uint8Array(Buffer.from(s))),
    );
    fc.assert(
      fc.property(arbBytes, fc.nat(), fc.nat(), (raw, a, b) => {
        const bytes = Buffer.from(raw);
        const start = a % (bytes.length + 1);
        const end = start + (b % (bytes.length - start + 1));
        assert.deepEqual(
          outcome(() => decodeUtf8Range(bytes, start, end)),
          outcome(() => decodeUtf8(Buffer.from(bytes.subarray(start, end)))),
        );
      }),
      { numRuns: 2000 },
    );
  });
});
