// An in-process primary for a test (the library's Primary, not a daemon): on loopback, an
// ephemeral port, the short commit window the suites run with, in a temp dir unless the test
// gives `dataDir`; started, and stopped when the test ends whatever happened.
import type { TestContext } from 'node:test';
import { Primary } from '../../src/primary/primary.js';
import type { PrimaryOptions } from '../../src/primary/primary-options.js';
import { FAST_COMMIT, tempDir } from './cluster.js';

export async function startLibraryPrimary(t: TestContext, options: Partial<PrimaryOptions> = {}): Promise<Primary> {
  const primary = new Primary({
    ...FAST_COMMIT,
    port: 0,
    bind: '127.0.0.1',
    ...options,
    dataDir: options.dataDir ?? tempDir(t),
  });
  await primary.start();
  t.after(() => primary.stop());
  return primary;
}
