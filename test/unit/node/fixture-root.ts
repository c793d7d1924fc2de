// Fixture machine roots for the node layer's tests (test/fixtures/node-root/): read in place, or
// copied to a temp dir that a test may change and that is removed after it.

import { cp, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export type FixtureName = 'pi4' | 'vm';

/** The read-only fixture tree of a machine. */
export function fixtureRoot(name: FixtureName): string {
  return fileURLToPath(new URL(`../../fixtures/node-root/${name}`, import.meta.url));
}

/** An empty temp dir (symlinks resolved), removed after the test. */
export async function tempDir(t: TestContext, prefix = 'picluster-node-'): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), prefix)));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A writable copy of a fixture tree, removed after the test. */
export async function copyFixture(t: TestContext, name: FixtureName): Promise<string> {
  const dir = await tempDir(t, `picluster-node-${name}-`);
  await cp(fixtureRoot(name), dir, { recursive: true });
  return dir;
}
