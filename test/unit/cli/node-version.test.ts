// An old Node.js gets one clear line from the CLI, not an error deep in a dependency.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MIN_NODE_MAJOR, nodeVersionProblem } from '../../../src/cli/node-version.js';

it('names the Node.js it needs and the one it found', () => {
  assert.equal(nodeVersionProblem('20.0.0'), undefined);
  assert.equal(nodeVersionProblem('22.11.0'), undefined);
  assert.match(
    nodeVersionProblem('18.19.1') ?? '',
    new RegExp(`^picluster needs Node\\.js ${MIN_NODE_MAJOR} or newer; this is Node\\.js 18\\.19\\.1 `),
  );
});
