// The overview's filter box: its text as a predicate over nodes. Pure (no DOM), so the page
// re-parses it on every keystroke and applies it to every node at each re-order.

/** Filter text → predicate. Tokens (all must match): `k=v` label k contains v, `k=` has label k, else substring of name/id/hostname/address/labels. */
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
        return labels.some(([k, v]) => k.toLowerCase() === key && String(v).toLowerCase().includes(value));
      }
      const hay = [node.name, node.id, node.info?.hostname, node.address, ...labels.map(([k, v]) => `${k}=${v}`)];
      return hay.some((s) => typeof s === 'string' && s.toLowerCase().includes(token));
    });
}
