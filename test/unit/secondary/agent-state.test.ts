// A Secondary whose start fails part-way (here: reading the machine info) leaves nothing open: the
// outbox and the task journal it had opened are closed (no descriptor kept), the data dir's lock is
// free, and a new agent on the same dir starts and keeps the same node id.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Secondary } from '../../../src/secondary/secondary.js';
import { tempDir } from '../../helpers/cluster.js';
import { fakeMachine } from '../../helpers/fake-machine.js';

const openFds = () => readdirSync('/proc/self/fd').length;

describe('agent state', () => {
  it('a start that fails part-way closes what it opened and frees the data dir', async (t) => {
    const dataDir = tempDir(t);
    const machine = fakeMachine('n1', 'a'.repeat(32));
    const options = { primary: '127.0.0.1:9', dataDir, token: 'agent-state-test-token-0123', tls: false as const };
    const first = new Secondary({ ...options, ...machine });
    await first.start();
    const nodeId = first.nodeId;
    await first.stop();
    const before = openFds();
    const broken = new Secondary({
      ...options,
      ...machine,
      machineInfo: () => Promise.reject(new Error('cannot read /proc/cpuinfo')),
    });
    await assert.rejects(broken.start(), /cannot read \/proc\/cpuinfo/);
    assert.equal(openFds(), before, 'no descriptor left open (outbox, task journal, lock)');
    const again = new Secondary({ ...options, ...machine });
    await again.start();
    t.after(() => again.stop());
    assert.equal(again.nodeId, nodeId);
  });
});
