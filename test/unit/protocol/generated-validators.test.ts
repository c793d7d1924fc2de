// The validators generated at build time (scripts/gen-validators.ts) against TypeBox itself: the
// files are what the generator writes now (not stale), each check accepts and refuses what
// TypeBox's Compile() does, and each error names the same place in the same words.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { renderValidators } from '../../../scripts/gen-validators.js';
import { SETTING_CHECKS } from '../../../src/cli/generated/setting-checks.js';
import { SETTINGS } from '../../../src/cli/settings.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { ENVELOPE_CHECK, PAYLOAD_CHECKS } from '../../../src/protocol/generated/message-checks.js';
import { Envelope, MESSAGE_SCHEMAS } from '../../../src/protocol/message-schemas.js';
import { validateMessage } from '../../../src/protocol/messages.js';
import { firstIssue } from '../../../src/protocol/schema-issue.js';
import { SHELL_ARGS_SCHEMA } from '../../../src/secondary/builtin-tasks.js';
import { SHELL_ARGS_CHECK } from '../../../src/secondary/generated/shell-args-check.js';

const ROOT = new URL('../../../', import.meta.url);

/** Values shaped like `schema` (its property names, with any values), and anything at all. */
function valuesFor(schema: TSchema): fc.Arbitrary<unknown> {
  const names = Object.keys((schema as { properties?: object }).properties ?? {});
  const field = fc.oneof(
    fc.anything(),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 80 }),
    fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  );
  const shaped = fc.record(Object.fromEntries(names.map((n) => [n, field])), { requiredKeys: [] });
  return fc.oneof(fc.anything(), shaped, field);
}

/** The generated check and TypeBox agree on `value`, and so do their first errors. */
function agree(name: string, check: (v: unknown) => boolean, schema: TSchema, value: unknown): void {
  const typebox = Compile(schema);
  const expected = typebox.Check(value);
  assert.equal(check(value), expected, `${name}: ${JSON.stringify(value)}`);
  if (expected) return;
  const want = typebox.Errors(value)[0];
  const got = firstIssue(schema, value);
  assert.deepEqual([got?.instancePath, got?.message], [want?.instancePath, want?.message], name);
}

describe('generated validators', () => {
  it('are what scripts/gen-validators.ts writes now (run it after changing a schema)', async () => {
    for (const [path, content] of await renderValidators()) {
      assert.ok(readFileSync(new URL(path, ROOT), 'utf8') === content, `${path} is stale`);
    }
  });

  it("accept and refuse what TypeBox's Compile() does, every message schema", () => {
    const schemas: Array<[string, (v: unknown) => boolean, TSchema]> = [
      ['envelope', ENVELOPE_CHECK, Envelope],
      ...Object.entries(MESSAGE_SCHEMAS).map(([t, schema]): [string, (v: unknown) => boolean, TSchema] => [
        t,
        PAYLOAD_CHECKS.get(t) as (v: unknown) => boolean,
        schema,
      ]),
    ];
    assert.equal(PAYLOAD_CHECKS.size, Object.keys(MESSAGE_SCHEMAS).length);
    for (const [name, check, schema] of schemas) {
      fc.assert(
        fc.property(valuesFor(schema), (value) => agree(name, check, schema, value)),
        { numRuns: 150 },
      );
    }
  });

  it("accept and refuse what TypeBox's Compile() does, every setting and the shell task's arguments", () => {
    assert.equal(SETTING_CHECKS.size, SETTINGS.length);
    for (const s of SETTINGS) {
      const check = SETTING_CHECKS.get(s.key) as (v: unknown) => boolean;
      for (const value of [s.default, undefined, '', 'x', 0, -1, 1.5, 65_536, true, [], ['a'], [''], {}, { a: 'b' }])
        agree(s.key, check, s.schema, value);
    }
    const shell = SHELL_ARGS_SCHEMA as unknown as TSchema;
    fc.assert(
      fc.property(valuesFor(shell), (value) => agree('shell', SHELL_ARGS_CHECK, shell, value)),
      {
        numRuns: 200,
      },
    );
  });

  it('keep the words of an invalid message (instance path and message)', () => {
    const cases: Array<[unknown, string]> = [
      [[1, 2], 'invalid message at /: must be object'],
      [{ t: 'ack', p: { seq: 'x' } }, 'invalid "ack" payload at /seq: must be integer'],
      [{ t: 'ack', p: { seq: -1 } }, 'invalid "ack" payload at /seq: must be >= 0'],
      [{ t: 'x', id: 1.5 }, 'invalid message at /id: must be integer'],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => validateMessage(value),
        (err: unknown) => err instanceof ProtocolError && err.code === 'ERR_INVALID_MESSAGE' && err.message === message,
      );
    }
  });
});
