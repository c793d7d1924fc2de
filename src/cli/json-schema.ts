// JSON Schema for the settings table (settings.ts): plain objects, the same TypeBox's `Type.*`
// builds, so the CLI never loads TypeBox (an agent's RSS). scripts/gen-validators.ts compiles
// them with TypeBox into generated/setting-checks.ts; TypeBox's error words come from
// protocol/schema-issue.ts on the first bad value.

import type { TSchema } from 'typebox';

type Rules = Record<string, unknown>;

export const integer = (rules: Rules = {}): TSchema => ({ type: 'integer', ...rules });
export const number = (rules: Rules = {}): TSchema => ({ type: 'number', ...rules });
export const string = (rules: Rules = {}): TSchema => ({ type: 'string', ...rules });
export const boolean: TSchema = { type: 'boolean' };
export const array = (items: TSchema, rules: Rules = {}): TSchema => ({ type: 'array', items, ...rules });
export const allOf = (schemas: TSchema[]): TSchema => ({ allOf: schemas });
/** A value that may be left out. */
export const optional = (schema: TSchema): TSchema => ({ anyOf: [schema, { type: 'undefined' }] });
/** One of these strings. */
export const oneOf = (values: readonly string[]): TSchema => ({
  anyOf: values.map((value) => ({ type: 'string', const: value })),
});
