// Where a task goes (`--on`, the API's `on`): one node, any one node of a selector, or every node
// of a selector (a broadcast). Pure, shared by the primary and the CLI.
//
//   node:ID | ID | NAME   that one node (an id first, else a unique name); waits while it is offline
//   any                   one online node, the least loaded
//   role=camera,arch=x    one online node whose labels (or info: arch, os, hostname, board) match
//   all                   every online node, one child task each
//   all:role=camera       every online node that matches, one child task each

import { ConfigError } from './errors.js';
import { type LabelSelector, parseSelector, selects } from './label-selector.js';
import { NODE_ID_PATTERN } from './messages.js';

export type TaskTarget =
  | { kind: 'node'; node: string }
  | { kind: 'one'; selector: LabelSelector }
  | { kind: 'all'; selector: LabelSelector };

const NODE_OR_NAME = /^[^\s=,:][^=,]{0,255}$/;
const NODE_ID = new RegExp(NODE_ID_PATTERN);

/** @throws ConfigError naming what is wrong */
export function parseTarget(text: string): TaskTarget {
  const on = text.trim();
  if (on === '') throw new ConfigError('no target: expected node:ID, a node name, any, all, all:k=v or k=v');
  if (on === 'any' || on === '*') return { kind: 'one', selector: { kind: 'all' } };
  if (on === 'all') return { kind: 'all', selector: { kind: 'all' } };
  if (on.startsWith('all:')) return { kind: 'all', selector: nonEmpty(parseSelector(on.slice(4)), on) };
  if (on.startsWith('node:')) {
    const node = on.slice(5);
    if (!NODE_ID.test(node)) throw new ConfigError(`invalid node id in target "${on.slice(0, 80)}"`);
    return { kind: 'node', node };
  }
  if (on.includes('=')) return { kind: 'one', selector: nonEmpty(parseSelector(on), on) };
  if (!NODE_OR_NAME.test(on)) throw new ConfigError(`invalid target "${on.slice(0, 80)}"`);
  return { kind: 'node', node: on };
}

function nonEmpty(selector: LabelSelector, text: string): LabelSelector {
  if (selector.kind === 'none') throw new ConfigError(`target "${text.slice(0, 80)}" selects no node`);
  return selector;
}

/** What a selector matches a node by: its labels, then its arch, os, hostname and board. */
export function targetMatches(
  selector: LabelSelector,
  node: {
    labels: Readonly<Record<string, string>>;
    info: { arch?: string; os?: string; hostname?: string; board?: string } | null;
  },
): boolean {
  if (selector.kind !== 'labels') return selector.kind === 'all';
  const { info } = node;
  const facts: Record<string, string> = {};
  if (info?.arch) facts.arch = info.arch;
  if (info?.os) facts.os = info.os;
  if (info?.hostname) facts.hostname = info.hostname;
  if (info?.board) facts.board = info.board;
  return selects(selector, { ...facts, ...node.labels });
}
