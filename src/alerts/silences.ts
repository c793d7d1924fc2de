// Silences: hold back the notifications of the alerts they match (by rule, node, label selector;
// every field given must match) until a time. The alerts still happen and are kept in the history.

import { randomUUID } from 'node:crypto';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { parseDuration } from '../common/duration.js';
import { RequestError } from '../protocol/errors.js';
import { type LabelSelector, parseSelector, selects } from '../protocol/label-selector.js';
import type { AlertRow, SilenceRow } from '../store/store-api.js';

const YEAR_MS = 366 * 86_400_000;

/** A silence as the API and the CLI give it: `until` (epoch ms or ISO time) or `for` ("2h"). */
export const SilenceInput = Type.Object(
  {
    rule: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    node: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    labels: Type.Optional(Type.String({ minLength: 1, maxLength: 600 })),
    until: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 64 })])),
    for: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ maxLength: 32 })])),
    comment: Type.Optional(Type.String({ maxLength: 500 })),
    author: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false },
);
let checkInputCompiled: ReturnType<typeof Compile<typeof SilenceInput>> | undefined;
/** Compiled at first use: a secondary loads this module with its config and never checks one. */
const checkInput = () => (checkInputCompiled ??= Compile(SilenceInput));
const SHAPE = '{"rule"?, "node"?, "labels"?, "until" (ISO time or epoch ms) or "for" ("2h"), "comment"?}';

const bad = (message: string) => new RequestError('ERR_BAD_REQUEST', message);

/**
 * Checks a silence as given and makes its row.
 * @throws RequestError ERR_BAD_REQUEST naming what is wrong
 */
export function silenceOf(given: unknown, author: string, now: number): SilenceRow {
  if (!checkInput().Check(given)) {
    const issue = checkInput().Errors(given)[0];
    throw bad(`invalid silence: ${issue?.instancePath || '/'} ${issue?.message ?? `is not ${SHAPE}`}`);
  }
  const input = given as {
    rule?: string;
    node?: string;
    labels?: string;
    until?: number | string;
    for?: number | string;
    comment?: string;
    author?: string;
  };
  if (!input.rule && !input.node && !input.labels) throw bad('a silence names a rule, a node or labels (or several)');
  if (input.labels) {
    try {
      parseSelector(input.labels);
    } catch (err) {
      throw bad((err as Error).message);
    }
  }
  let until: number;
  if (input.for !== undefined) {
    const ms = typeof input.for === 'number' ? input.for : parseDuration(input.for);
    if (ms === undefined || ms <= 0)
      throw bad(`for = "${String(input.for).slice(0, 32)}" is not a duration (like "2h")`);
    until = now + ms;
    if (input.until !== undefined) throw bad('give "for" or "until", not both');
  } else if (input.until !== undefined) {
    until = typeof input.until === 'number' ? input.until : Date.parse(input.until);
    if (!Number.isFinite(until))
      throw bad(`until = "${String(input.until).slice(0, 64)}" is not a time (ISO 8601, like 2026-12-24T08:00:00Z)`);
  } else throw bad(`a silence needs "until" or "for": ${SHAPE}`);
  if (until <= now) throw bad('until is in the past');
  if (until - now > YEAR_MS) throw bad('a silence lasts a year at most');
  return {
    id: randomUUID(),
    rule: input.rule ?? null,
    node: input.node ?? null,
    labels: input.labels ?? null,
    until,
    comment: input.comment ?? '',
    author: input.author ? `${author} (${input.author})` : author,
    createdAt: now,
  };
}

/** Whether a silence holds this alert now (`labels`: the alert's node's labels). */
export function silences(
  silence: SilenceRow,
  alert: Pick<AlertRow, 'rule' | 'node' | 'nodeName'>,
  labels: Readonly<Record<string, string>>,
  now: number,
): boolean {
  if (silence.until <= now) return false;
  if (silence.rule !== null && silence.rule !== alert.rule) return false;
  if (silence.node !== null && silence.node !== alert.node && silence.node !== alert.nodeName) return false;
  return silence.labels === null || selects(selectorOf(silence.labels), labels);
}

/** Parsed selectors of the silences (checked at creation): parsed once, not at every match. */
const SELECTORS = new Map<string, LabelSelector>();

function selectorOf(text: string): LabelSelector {
  let selector = SELECTORS.get(text);
  if (!selector) {
    if (SELECTORS.size >= 2000) SELECTORS.clear();
    selector = parseSelector(text);
    SELECTORS.set(text, selector);
  }
  return selector;
}
