// Tasks through a whole Secondary: its own kinds (`secondary.task()`), the events, the journal in
// its data dir, results re-sent after a reconnect, and a task cut short by stop(). The primary is
// a small one made of the project's Connection: the real handshake, then `task` requests.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import { Connection } from '../../../src/connection/connection.js';
import { RecordingExecutor } from '../../../src/node/executor.js';
import { serverProof } from '../../../src/protocol/auth.js';
import type { TaskResultPayload } from '../../../src/protocol/tasks.js';
import { Secondary } from '../../../src/secondary/secondary.js';
import type { TaskStarted } from '../../../src/secondary/secondary-options.js';
import { tempDir, waitUntil } from '../../helpers/cluster.js';
import { fakeMachine } from '../../helpers/fake-machine.js';

const TOKEN = 'secondary-tasks-token-0123456789';

/** A primary that welcomes every node and keeps the latest link and the results it got. */
async function smallPrimary(t: TestContext) {
  const state = { conn: undefined as Connection | undefined, results: [] as TaskResultPayload[], links: 0 };
  const server = net.createServer((socket) => {
    socket.once('data', () => {
      // The 4-byte opening magic; the agent says nothing more until `hello`.
      const conn = new Connection(socket, { heartbeat: { intervalMs: 60_000 } });
      conn.handle('auth', (p) => {
        const { nodeId, clientNonce } = p as { nodeId: string; clientNonce: string };
        return { nodeId, lastSeq: 0, serverProof: serverProof(TOKEN, clientNonce, 'small') };
      });
      conn.on('message', (m) => {
        if (m.t === 'task.result') state.results.push(m.p as TaskResultPayload);
      });
      conn.send('hello', {
        protocol: { min: 1, max: 1 },
        primaryId: 'small',
        nonce: 'ab'.repeat(32),
        heartbeatMs: 60_000,
        maxFrameBytes: 1 << 20,
      });
      state.conn = conn;
      state.links++;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    state.conn?.destroy();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  const task = (key: string, kind: string) =>
    (state.conn as Connection).request('task', { taskId: key, key, kind, args: {}, timeoutMs: 60_000, epoch: 0 });
  return { state, port, task };
}

it('a node runs its own kinds and the built-in ones, emits its events, and keeps its journal in the data dir', async (t) => {
  const primary = await smallPrimary(t);
  const executor = new RecordingExecutor();
  const dataDir = join(tempDir(t), 'node');
  const secondary = new Secondary({
    primary: [{ host: '127.0.0.1', port: primary.port }],
    tls: false,
    dataDir,
    token: TOKEN,
    ...fakeMachine('n1', 'machine-1'),
    reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
    tasks: { executor },
    stopTimeoutMs: 500,
  });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  secondary.task('test.echo', async (args, { output }) => {
    output('stdout', 'hello\n');
    return { echoed: args };
  });
  secondary.task('test.wait', () => gate);
  const started: TaskStarted[] = [];
  const finished: TaskResultPayload[] = [];
  secondary.on('taskStarted', (task) => started.push(task));
  secondary.on('taskFinished', (result) => finished.push(result));
  t.after(() => secondary.stop());
  await secondary.start();
  await waitUntil(() => secondary.state === 'online', 10_000, 'online');

  assert.deepEqual(await primary.task('e1', 'test.echo'), { state: 'running' });
  const echo = await waitUntil(() => primary.state.results.find((r) => r.taskId === 'e1'), 5_000, 'the result');
  assert.deepEqual([echo.state, echo.result, echo.stdout], ['succeeded', { echoed: {} }, 'hello\n']);
  assert.deepEqual(started, [{ taskId: 'e1', key: 'e1', kind: 'test.echo' }]);
  assert.deepEqual(finished, [echo]);
  assert.ok(existsSync(join(dataDir, 'tasks.jsonl')));

  // Not acknowledged: after a reconnect the node sends it again.
  primary.state.conn?.destroy();
  await waitUntil(() => primary.state.links === 2 && secondary.state === 'online', 10_000, 'back online');
  await waitUntil(() => primary.state.results.filter((r) => r.taskId === 'e1').length === 2, 5_000, 'sent again');

  // A task running when the agent stops is reported as interrupted before it says goodbye.
  await primary.task('w1', 'test.wait');
  await secondary.stop();
  const cut = await waitUntil(() => primary.state.results.find((r) => r.taskId === 'w1'), 5_000, 'w1');
  assert.deepEqual([cut.state, cut.error?.code], ['failed', 'ERR_TASK_INTERRUPTED']);
  release();
  assert.deepEqual(executor.calls, [], 'nothing touched the machine');
});
