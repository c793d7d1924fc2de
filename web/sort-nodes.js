// The overview's order: nodes sorted by one column's value, missing values last whichever the
// direction, ties (and missing values) by name then id, so the order is total and rows do not
// swap places between frames. Names compare as people read them ("pi-2" before "pi-10").

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** A new array of `nodes` sorted by `get(node)`; `desc` reverses the values' order, not the ties'. */
export function sortNodes(nodes, get, desc) {
  const dir = desc ? -1 : 1;
  // Each value read once, not once per comparison.
  const keyed = nodes.map((n) => ({ n, k: get(n) }));
  keyed.sort((a, b) => {
    const ka = a.k;
    const kb = b.k;
    const missA = ka === undefined || ka === null || Number.isNaN(ka);
    const missB = kb === undefined || kb === null || Number.isNaN(kb);
    if (missA || missB) return missA === missB ? byName(a.n, b.n) : missA ? 1 : -1;
    const c = typeof ka === 'string' ? collator.compare(ka, kb) : ka - kb;
    return c !== 0 ? c * dir : byName(a.n, b.n);
  });
  return keyed.map((k) => k.n);
}

/** Two strings in the order people read them: digit runs as numbers ("0.9.0" before "0.10.0"). */
export function compareText(a, b) {
  return collator.compare(a, b);
}

function byName(a, b) {
  return collator.compare(a.name, b.name) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
