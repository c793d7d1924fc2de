// The overview's columns and node states: what each column is called, how it reads its sort value
// from a node, and whether vitals can move that value. The toolbar, the table header, the rows,
// the sort and the totals read them from here, so a column is added in one place (the rows also
// need a cell: node-row.js).

import * as fmt from './format.js';

export const STATES = ['online', 'lost', 'left', 'pending', 'denied', 'rebooting'];
const STATE_RANK = { online: 0, lost: 1, left: 2 };

/** Sortable columns: label, value getter (undefined sorts last) and whether vitals move it. */
export const COLUMNS = [
  { key: 'name', label: 'Name', get: (n) => n.name, live: false },
  { key: 'state', label: 'State', get: (n) => STATE_RANK[n.state] ?? 9, live: false },
  { key: 'cpu', label: 'CPU', get: (n) => n.vitals?.cpuPercent, live: true },
  { key: 'ram', label: 'RAM used', get: (n) => fmt.ramUsedPercent(n), live: true },
  { key: 'temp', label: 'Temp', get: (n) => n.vitals?.tempC, live: true },
  { key: 'load', label: 'Load 1/5/15', get: (n) => n.vitals?.load1, live: true },
  { key: 'uptime', label: 'Uptime', get: (n) => n.vitals?.uptimeS, live: true },
  { key: 'seen', label: 'Last seen', get: (n) => n.lastSeen, live: true },
  // A string: sortNodes compares strings with a numeric collator, so dotted parts sort as numbers
  // ("0.9.0" before "0.10.0"); a pre-release ("0.2.0-rc.1") sorts after its release, not before
  // as semver has it. A node only says its version when it (re)joins, so vitals never move it.
  { key: 'version', label: 'Version', get: nodeVersion, live: false },
];

/**
 * A node's picluster version, or undefined when it is not known: no machine info yet, or a node
 * of the legacy protocol (which sends none).
 */
export function nodeVersion(node) {
  const version = node.info?.version;
  return typeof version === 'string' && version !== '' ? version : undefined;
}

/** The columns by key. */
export const COLUMN = Object.fromEntries(COLUMNS.map((c) => [c.key, c]));
