// parseJson's checks as they were before issue 16, in their original order and words (a flat
// depth scan of the text, JSON.parse, then forbidden keys by Object.keys): the reference the
// decoder and parseJson property tests compare the faster code with.

import { ProtocolError } from '../../src/protocol/errors.js';
import { jsonDepth } from '../../src/protocol/parse-json.js';

export const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'];

export function referenceParseJson(text: string, maxDepth: number): unknown {
  if (jsonDepth(text, maxDepth) > maxDepth) {
    throw new ProtocolError('ERR_TOO_DEEP', `JSON nested deeper than ${maxDepth} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError('ERR_INVALID_JSON', `invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach(walk);
      return;
    }
    for (const key of Object.keys(v)) {
      if (FORBIDDEN_KEYS.includes(key)) {
        throw new ProtocolError('ERR_FORBIDDEN_KEY', `forbidden key "${key}" in message`);
      }
      walk((v as Record<string, unknown>)[key]);
    }
  };
  walk(value);
  return value;
}
