// The overview's filter box: its text as a predicate over nodes. Pure (no DOM), so the page
// re-parses it on every keystroke and applies it to every node at each re-order.

import { nodeVersion } from './overview-columns.js';

/**
 * Filter text → predicate. Tokens (all must match): `k=v` label k contains v, `k=` has label k,
 * `version=v` also the node's picluster version (versionMatches), else substring of
 * name/id/hostname/address/labels.
 */
export function parseFilter(text) {
  const tokens = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) return () => true;
  return (node) =>
    tokens.every((token) => {
      const eq = token.indexOf('=');
      const labels = Object.entries(node.labels ?? {});
      if (eq > 0) {
        const key = token.slice(0, eq);
        const value = token.slice(eq + 1);
        if (key === 'version' && versionMatches(nodeVersion(node), value)) return true;
        return labels.some(([k, v]) => k.toLowerCase() === key && String(v).toLowerCase().includes(value));
      }
      const hay = [node.name, node.id, node.info?.hostname, node.address, ...labels.map(([k, v]) => `${k}=${v}`)];
      return hay.some((s) => typeof s === 'string' && s.toLowerCase().includes(token));
    });
}

/**
 * `value` is the version or a release series of it: `0.1` matches 0.1, 0.1.0 and 0.1.0-rc.1, not
 * 0.10.0 (so not "contains", as labels are); `''` matches any known version.
 */
function versionMatches(version, value) {
  if (version === undefined) return false;
  const v = version.toLowerCase();
  if (!v.startsWith(value)) return false;
  // At a boundary: the end, or a separator on either side (`0.1.` typed so far matches 0.1.0).
  return v.length === value.length || value === '' || /[.+-]$/.test(value) || /[.+-]/.test(v[value.length]);
}
