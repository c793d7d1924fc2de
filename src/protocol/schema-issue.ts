// The first thing wrong with a value that failed one of the precompiled checks (generated/), in
// TypeBox's words: the detail of an error message. TypeBox's error reporting is bundled into one
// CommonJS file by scripts/gen-validators.ts and required on the first failure only, synchronously
// (the frame decoder throws where it finds the bad frame): an agent that never receives a bad
// value never carries it (about 1 MB of RSS when loaded).

import { createRequire } from 'node:module';

export interface SchemaIssue {
  /** JSON pointer of the bad value, '' for the whole. */
  instancePath: string;
  message: string;
}

interface SchemaErrorsBundle {
  /** typebox/schema's Errors: [valid, every issue]. */
  Errors(schema: unknown, value: unknown): [boolean, SchemaIssue[]];
  /** The message schemas as JSON Schema, by message type (and `envelope`). */
  SCHEMAS: Record<string, unknown>;
}

const require = createRequire(import.meta.url);

/**
 * Loads the bundle now: a primary faces bad input from the network, and the first bad frame must
 * not pay the load (measured: up to 200 ms of CPU on a busy machine, inside an attack's window).
 */
export function loadSchemaIssues(): void {
  try {
    require('./generated/schema-errors.cjs');
  } catch {
    // A warm-up only: where it cannot load here (a loader without CommonJS TypeScript, as one test
    // runs the CLI), the first bad frame loads it, or says why, as before.
  }
}

/**
 * The first issue TypeBox reports for `value` against a schema: a JSON Schema object, or the name
 * of a message schema (`envelope`, a message type).
 */
export function firstIssue(schema: string | object, value: unknown): SchemaIssue | undefined {
  const bundle = require('./generated/schema-errors.cjs') as SchemaErrorsBundle;
  const resolved = typeof schema === 'string' ? bundle.SCHEMAS[schema] : schema;
  if (resolved === undefined) throw new Error(`no message schema named "${schema}" in generated/schema-errors.cjs`);
  return bundle.Errors(resolved, value)[1][0];
}
