// Safe JSON parsing for untrusted bytes. Pure: no I/O. Guards against the bad-input classes of
// FAULT-SCENARIOS.md: invalid UTF-8 (fatal decoder, never U+FFFD), nesting deeper than
// MAX_JSON_DEPTH (checked by a flat scan before anything recursive touches the value) and
// prototype-pollution keys (`__proto__`, `constructor`, `prototype`), which are rejected.

import { ProtocolError } from './errors.js';

export const MAX_JSON_DEPTH = 32;

const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'] as const;
// ignoreBOM keeps a leading U+FEFF in the text, as Buffer#toString does: both paths then reject
// it the same way (it is not valid JSON).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Decodes UTF-8 strictly. @throws ProtocolError ERR_INVALID_UTF8
 * Fast path: Buffer#toString (native, lenient) and, only when the result holds U+FFFD (an
 * invalid sequence, or a real U+FFFD), the fatal TextDecoder to tell which.
 */
export function decodeUtf8(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  if (!text.includes('\uFFFD')) return text;
  try {
    return utf8.decode(bytes);
  } catch (err) {
    throw new ProtocolError('ERR_INVALID_UTF8', 'frame is not valid UTF-8', { cause: err });
  }
}

/**
 * The deepest nesting of objects and arrays in a JSON text, stopping early once it passes
 * `limit`. Brackets inside strings do not count. A flat loop: no recursion, so no stack limit.
 */
export function jsonDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return max;
}

/**
 * Parses untrusted JSON text.
 * @throws ProtocolError ERR_TOO_DEEP, ERR_INVALID_JSON or ERR_FORBIDDEN_KEY; never anything else.
 */
export function parseJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  // Depth cannot exceed the number of opening brackets: count those first (cheap indexOf) and
  // scan only texts that have more than maxDepth of them.
  if (countOpenings(text, maxDepth + 1) > maxDepth && jsonDepth(text, maxDepth) > maxDepth) {
    throw new ProtocolError('ERR_TOO_DEEP', `JSON nested deeper than ${maxDepth} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError('ERR_INVALID_JSON', `invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  // Fast path: a text that never spells a forbidden key, not even through a \u escape, cannot
  // hold one as a key.
  if (text.includes('\\u') || FORBIDDEN_KEYS.some((key) => text.includes(key))) {
    rejectForbiddenKeys(value);
  }
  return value;
}

/** Opening brackets in `text`, counting no further than `stopAt`. */
function countOpenings(text: string, stopAt: number): number {
  let n = 0;
  for (const bracket of ['{', '[']) {
    for (let i = text.indexOf(bracket); i !== -1 && n < stopAt; i = text.indexOf(bracket, i + 1)) n++;
  }
  return n;
}

/** Walks a parsed value (depth already bounded) and throws on a forbidden own key. */
function rejectForbiddenKeys(value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) rejectForbiddenKeys(item);
    return;
  }
  for (const key of Object.keys(value)) {
    if ((FORBIDDEN_KEYS as readonly string[]).includes(key)) {
      throw new ProtocolError('ERR_FORBIDDEN_KEY', `forbidden key "${key}" in message`);
    }
    rejectForbiddenKeys((value as Record<string, unknown>)[key]);
  }
}
