// An old Node.js gets one clear line from the CLI, not an error deep in a dependency.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { nodeVersionProblem } from '../../../src/cli/node-version.js';

it('names the Node.js it needs and the one it found', () => {
  for (const ok of ['20.15.0', '20.20.2', '21.0.0', '22.11.0']) assert.equal(nodeVersionProblem(ok), undefined, ok);
  assert.match(
    nodeVersionProblem('18.19.1') ?? '',
    /^picluster needs Node\.js 20\.15 or newer; this is Node\.js 18\.19\.1 /,
  );
  // 20.0-20.14 have no zlib.crc32.
  assert.match(
    nodeVersionProblem('20.14.0') ?? '',
    /^picluster needs Node\.js 20\.15 or newer; this is Node\.js 20\.14\.0 /,
  );
});
