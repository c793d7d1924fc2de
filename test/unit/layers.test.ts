// The layers of ARCHITECTURE.md ("Layers"): what each folder of src/ may import from the others.
// Type imports count too: a type from an upper layer ties a lower one to it all the same.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { it } from 'node:test';

const SRC = new URL('../../src/', import.meta.url).pathname;

// `common` (every default, the logger interface) sits below protocol: everyone may import it.
const MAY_IMPORT: Record<string, readonly string[]> = {
  common: [],
  protocol: ['common'],
  connection: ['common', 'protocol'],
  node: ['common', 'protocol'],
  store: ['common', 'protocol'],
  alerts: ['common', 'protocol', 'store'],
  secondary: ['common', 'protocol', 'connection', 'node'],
  primary: ['common', 'protocol', 'connection', 'node', 'store', 'alerts'],
  web: ['common', 'protocol', 'primary', 'store', 'alerts'],
  cli: ['common', 'protocol', 'connection', 'node', 'store', 'alerts', 'secondary', 'primary', 'web'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

it('no folder of src/ imports one it may not (ARCHITECTURE.md, Layers)', () => {
  const wrong: string[] = [];
  let checked = 0;
  for (const file of sourceFiles(SRC)) {
    const [layer, ...rest] = relative(SRC, file).split('/');
    if (rest.length === 0) continue; // src/index.ts: the library's front door re-exports them all
    const allowed = MAY_IMPORT[layer as string];
    assert.ok(allowed, `${relative(SRC, file)}: a folder the layer table does not know`);
    const text = readFileSync(file, 'utf8');
    // Every relative import, from any depth (src/primary/handlers/x.ts imports '../../store/…').
    for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*'(\.\.?\/[^']+)'/g)) {
      const target = relative(SRC, resolve(dirname(file), spec as string)).split('/')[0];
      if (target === layer) continue;
      checked++;
      if (!allowed.includes(target as string)) wrong.push(`${relative(SRC, file)} imports ${spec}`);
    }
  }
  assert.ok(checked > 50, `only ${checked} imports across folders found: is the pattern still right?`);
  assert.deepEqual(wrong, []);
});

it('the web reads the primary through its ClusterView and the store through its read interface only', () => {
  // What src/web/ may take from the layers below it: interfaces, never the Primary class, its
  // registry, or a concrete store (issue 10: a second store must not reach the web).
  const allowed = new Set(['primary/cluster-view.js', 'store/store-api.js']);
  const wrong: string[] = [];
  for (const file of sourceFiles(join(SRC, 'web'))) {
    const text = readFileSync(file, 'utf8');
    for (const [, target] of text.matchAll(/(?:from|import)\s+'\.\.\/((?:primary|store)\/[a-z/-]+\.js)'/g)) {
      if (!allowed.has(target as string)) wrong.push(`${relative(SRC, file)} imports ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

// A file past 20 KB has grown a second job (issue "A house ready for tasks…"): split it first.
// Generated checks (*/generated/, `npm run gen:validators`) grow with the schemas they compile.
it('no hand-written file of src/ is over 20 KB', () => {
  const big = sourceFiles(SRC)
    .filter((file) => !file.includes('/generated/'))
    .map((file) => ({ file: relative(SRC, file), bytes: readFileSync(file).length }))
    .filter(({ bytes }) => bytes > 20_000);
  assert.deepEqual(big, []);
  // The three that were split to make room for tasks and alerts stay under 15 KB.
  for (const file of ['connection/connection.ts', 'secondary/secondary.ts', 'primary/legacy-session.ts']) {
    const bytes = readFileSync(join(SRC, file)).length;
    assert.ok(bytes < 15_000, `${file}: ${bytes} bytes`);
  }
});
