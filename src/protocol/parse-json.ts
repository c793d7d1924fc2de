// Safe JSON parsing for untrusted bytes. Pure: no I/O. Guards against the bad-input classes of
// FAULT-SCENARIOS.md: invalid UTF-8 (fatal decoder, never U+FFFD), nesting deeper than
// MAX_JSON_DEPTH and prototype-pollution keys (`__proto__`, `constructor`, `prototype`), which
// are rejected. Depth is checked by a flat scan of the text before anything recursive touches
// the value: not by a walk of the parsed value, which misses a deep value that a duplicate key
// replaced (`{"a":[[[…]]],"a":1}`).

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
  return decodeUtf8Range(bytes, 0, bytes.length);
}

/** decodeUtf8 of `bytes.subarray(start, end)`, without making that Buffer unless the text holds U+FFFD. */
export function decodeUtf8Range(bytes: Buffer, start: number, end: number): string {
  const text = bytes.toString('utf8', start, end);
  if (!text.includes('\uFFFD')) return text;
  try {
    return utf8.decode(bytes.subarray(start, end));
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
  if (isTooDeep(text, maxDepth)) {
    throw new ProtocolError('ERR_TOO_DEEP', `JSON nested deeper than ${maxDepth} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError('ERR_INVALID_JSON', `invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (text.length <= MAX_WALKED_CHARS && !hasInheritedKeys()) {
    const key = findForbiddenKey(value);
    if (key !== undefined) throw forbiddenKey(key);
  } else if (text.includes('\\u') || FORBIDDEN_KEYS.some((key) => text.includes(key))) {
    // A text that never spells a forbidden key, not even through a \u escape, cannot hold one.
    rejectForbiddenKeys(value);
  }
  return value;
}

/**
 * Why `value`, sent `depthAround` levels deep in a message, would be refused by the receiving
 * peer's parseJson (nested too deep, a forbidden key), or undefined. For values users give that
 * a peer stores and sends on (task arguments, a task's result): a refused frame costs the node its
 * link, at every resend.
 */
export function unsendableWhy(value: unknown, depthAround: number): string | undefined {
  try {
    parseJson(JSON.stringify(value) ?? 'null', MAX_JSON_DEPTH - depthAround);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** How deep a task's `args` sit in its message: `{t, id, p: {…, args}}`. */
export const TASK_ARGS_DEPTH = 2;

/**
 * How deep a task's `result` sits in its `task.result` message: `{t, p: {…, result}}`. A node
 * checks what its handler returned at this depth (task-outcome.ts): a result the primary's decoder
 * refuses would cost the node its link at every resend of the unacknowledged result.
 */
export const TASK_RESULT_DEPTH = 2;

/**
 * Longest text whose parsed value is walked for forbidden keys whatever the text says. Below it,
 * one walk of a small value costs less than the four scans of the text that would skip it
 * (issue 16); above it, most texts are skipped by the scans.
 */
const MAX_WALKED_CHARS = 256;
const PROBE = {};

/**
 * True when Object.prototype has enumerable properties (someone polluted it): for-in would
 * then see them on every parsed object, so findForbiddenKey must not be used.
 */
function hasInheritedKeys(): boolean {
  for (const _key in PROBE) return true;
  return false;
}

/**
 * The first forbidden own key of a parsed value (depth already bounded) in depth-first order,
 * as rejectForbiddenKeys finds it. for-in, not Object.keys: no array per object, and the same
 * keys in the same order while Object.prototype has no enumerable property.
 */
function findForbiddenKey(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findForbiddenKey(value[i]);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const key in value) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') return key;
    const found = findForbiddenKey((value as Record<string, unknown>)[key]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Depth cannot exceed the number of opening brackets: count those first (cheap indexOf). */
function isTooDeep(text: string, maxDepth: number): boolean {
  return countOpenings(text, maxDepth + 1) > maxDepth && jsonDepth(text, maxDepth) > maxDepth;
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
    if ((FORBIDDEN_KEYS as readonly string[]).includes(key)) throw forbiddenKey(key);
    rejectForbiddenKeys((value as Record<string, unknown>)[key]);
  }
}

function forbiddenKey(key: string): ProtocolError {
  return new ProtocolError('ERR_FORBIDDEN_KEY', `forbidden key "${key}" in message`);
}
