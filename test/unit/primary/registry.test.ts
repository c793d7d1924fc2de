import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type NodeRecord, Registry } from '../../../src/primary/registry.js';

function record(id: string, name = `node-${id}`, padding = 0): NodeRecord {
  return {
    ...{ id, name, state: 'online', labels: padding ? { pad: 'p'.repeat(padding) } : {}, address: null, legacy: false },
    ...{
      info: null,
      vitals: null,
      lastSeen: 1,
      connectedSince: 1,
      machineId: null,
      lastSeq: 0,
      session: undefined,
      clockSkewMs: null,
      clockSkewed: false,
    },
  };
}

/** Every page from the first, following `next`. */
function allPages(registry: Registry, limit: number, maxBytes: number): Array<{ ids: string[]; next?: string }> {
  const pages: Array<{ ids: string[]; next?: string }> = [];
  let after: string | undefined;
  do {
    const page = registry.page(after, limit, maxBytes);
    pages.push({ ids: page.nodes.map((n) => n.id), next: page.next });
    after = page.next;
  } while (after !== undefined && pages.length < 100);
  return pages;
}

describe('Registry.page', () => {
  it('pages in id order by count; the last page has no next', () => {
    const registry = new Registry();
    // Inserted out of order, and names that sort otherwise: pages follow ids.
    for (const id of ['e', 'a', 'd', 'b', 'c']) registry.set(record(id, `z-${5 - id.charCodeAt(0)}`));
    assert.deepEqual(allPages(registry, 2, 1e6), [
      { ids: ['a', 'b'], next: 'b' },
      { ids: ['c', 'd'], next: 'd' },
      { ids: ['e'], next: undefined },
    ]);
    assert.deepEqual(allPages(registry, 5, 1e6), [{ ids: ['a', 'b', 'c', 'd', 'e'], next: undefined }]);
    assert.deepEqual(registry.page(undefined, 10, 1e6).next, undefined);
  });

  it('keeps a page within maxBytes of JSON, with at least one node in it', () => {
    const registry = new Registry();
    for (let i = 0; i < 30; i++) registry.set(record(`n${String(i).padStart(2, '0')}`, 'x', 900));
    const maxBytes = 4096;
    const pages = allPages(registry, 500, maxBytes);
    assert.ok(pages.length >= 8, `${pages.length} pages`);
    for (const { ids } of pages) {
      const bytes = Buffer.byteLength(
        JSON.stringify(registry.page(undefined, 500, 1e9).nodes.filter((n) => ids.includes(n.id))),
      );
      assert.ok(bytes <= maxBytes, `a page of ${bytes} bytes`);
    }
    assert.deepEqual(
      pages.flatMap((p) => p.ids),
      [...Array(30).keys()].map((i) => `n${String(i).padStart(2, '0')}`),
    );
    // A node too large for a page alone comes without its details, and the pages go on past it.
    const small = registry.page(undefined, 500, 300);
    assert.deepEqual(
      small.nodes.map((n) => [n.id, n.truncated, n.labels]),
      [['n00', true, {}]],
    );
    assert.ok(Buffer.byteLength(JSON.stringify(small.nodes)) <= 300);
    assert.equal(registry.page(small.next, 500, 300).nodes[0]?.id, 'n01');
    assert.equal(registry.page(undefined, 500, 1e6).nodes[0]?.truncated, undefined, 'whole when it fits');
  });

  it('continues after a node that left the registry, and after one that joined behind the cursor', () => {
    const registry = new Registry();
    for (const id of ['a', 'b', 'c', 'd']) registry.set(record(id));
    const first = registry.page(undefined, 2, 1e6);
    assert.equal(first.next, 'b');
    const fresh = new Registry();
    for (const id of ['a', 'aa', 'c', 'd']) fresh.set(record(id)); // b gone, aa joined behind
    assert.deepEqual(
      fresh.page(first.next, 2, 1e6).nodes.map((n) => n.id),
      ['c', 'd'],
    );
  });
});
