// Label selectors: which nodes a rule applies to, by their labels. `*` is every node; `k=v,k2=v2`
// is the nodes whose labels have every one of those pairs; the empty selector is no node. Pure
// code, shared by the primary (who may query the fleet) and the CLI (what it validates).

import { ConfigError } from './errors.js';

/** What a selector may look like: empty, `*`, or `key=value` pairs joined by commas. */
export const FLEET_SELECTOR_PATTERN =
  '^(\\*|[A-Za-z0-9._/-]{1,64}=[^,=]{0,256}(,[A-Za-z0-9._/-]{1,64}=[^,=]{0,256})*)?$';

const SELECTOR = new RegExp(FLEET_SELECTOR_PATTERN);

export type LabelSelector = { kind: 'none' } | { kind: 'all' } | { kind: 'labels'; pairs: Array<[string, string]> };

/** @throws ConfigError naming what is wrong */
export function parseSelector(text: string): LabelSelector {
  const trimmed = text.trim();
  if (!SELECTOR.test(trimmed)) {
    throw new ConfigError(`invalid label selector "${trimmed.slice(0, 80)}": expected *, or key=value[,key=value...]`);
  }
  if (trimmed === '') return { kind: 'none' };
  if (trimmed === '*') return { kind: 'all' };
  const pairs = trimmed.split(',').map((pair) => {
    const at = pair.indexOf('=');
    return [pair.slice(0, at), pair.slice(at + 1)] as [string, string];
  });
  return { kind: 'labels', pairs };
}

export function selects(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  if (selector.kind !== 'labels') return selector.kind === 'all';
  return selector.pairs.every(([key, value]) => Object.hasOwn(labels, key) && labels[key] === value);
}
