// An old Node.js gets one clear line from the CLI, not an error deep in a dependency.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { nodeVersionProblem } from '../../../src/cli/node-version.js';

it('names the Node.js it needs and the one it found', () => {
  for (const ok of ['20.15.0', '20.20.2', '22.2.0', '22.11.0', '23.0.0', '24.1.0'])
    assert.equal(nodeVersionProblem(ok), undefined, ok);
  // Without zlib.crc32: before 20.15, all of 21, 22.0 and 22.1.
  for (const old of ['18.19.1', '20.14.0', '21.7.3', '22.1.0']) {
    const escaped = old.replaceAll('.', '\\.');
    assert.match(
      nodeVersionProblem(old) ?? '',
      new RegExp(`^picluster needs Node\\.js 20\\.15\\+ \\(20\\.x\\) or 22\\.2\\+; this is Node\\.js ${escaped} `),
      old,
    );
  }
});
