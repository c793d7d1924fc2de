// What a primary or an agent stores and sends again must be what the peer's decoder takes: a frame
// it refuses closes the link, and a stored one goes again at every new link, so the node flaps
// online/lost until the task's timeout (or forever: an agent resends its unacknowledged results).
// An in-process primary (the library's) and real agents over TLS.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Primary } from '../../src/primary/primary.js';
import { ConfigError, RequestError } from '../../src/protocol/errors.js';
import { FINAL_STATES } from '../../src/protocol/tasks.js';
import { Secondary } from '../../src/secondary/secondary.js';
import type { TaskRow } from '../../src/store/store-api.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';

const TOKEN = 'task-wire-limits-token-0123456789';
const DAY_MS = 24 * 3_600_000;

async function cluster(t: TestContext, nodes: number, plugins: (node: Secondary) => void = () => {}) {
  const primary = await startLibraryPrimary(t, { token: TOKEN });
  const agents: Array<{ node: Secondary; onlines: number }> = [];
  for (let i = 0; i < nodes; i++) {
    const node = new Secondary({
      primary: `127.0.0.1:${primary.port}`,
      dataDir: tempDir(t),
      token: TOKEN,
      name: `n${i}`,
      tls: { fingerprint: primary.tlsFingerprint as string },
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    plugins(node);
    const agent = { node, onlines: 0 };
    node.on('online', () => agent.onlines++);
    await node.start();
    t.after(() => node.stop());
    await waitUntil(() => node.state === 'online', 10_000, 'online');
    agents.push(agent);
  }
  return { primary, agents };
}

async function ended(primary: Primary, id: string, within = 15_000): Promise<TaskRow> {
  return waitUntil(
    async () => {
      const row = await primary.tasks.get(id);
      return row && FINAL_STATES.has(row.state) ? row : undefined;
    },
    within,
    `task ${id} ended`,
  );
}

/** Every agent came online once and is online now, and a task still runs on each. */
async function linksHeld(primary: Primary, agents: Array<{ node: Secondary; onlines: number }>): Promise<void> {
  for (const { node, onlines } of agents) {
    assert.equal(onlines, 1, `${node.nodeId} came online ${onlines} times`);
    assert.equal(primary.node(node.nodeId)?.state, 'online');
    const time = await ended(primary, (await primary.tasks.submit({ kind: 'node.time', on: node.nodeId }, 'test')).id);
    assert.equal(time.state, 'succeeded');
  }
}

describe('task frames the peer refuses', () => {
  it("a plugin's result with a constructor key, or nested too deep, fails its task; the node keeps its link", async (t) => {
    // Found by review: the primary refused the `task.result` frame and closed the link; the agent
    // kept the result unacknowledged and sent it first on every new link: the node flapped
    // online/lost for ever, and the task ended failed ERR_NODE_LOST.
    const nested = (levels: number): unknown => (levels <= 1 ? {} : { a: nested(levels - 1) });
    const { primary, agents } = await cluster(t, 1, (node) => {
      node.task('pkg.inspect', async () => ({ name: 'x', constructor: 'Foo' }));
      node.task('pkg.deep', async () => nested(40));
    });
    const on = (agents[0] as { node: Secondary }).node.nodeId;
    const inspect = await ended(primary, (await primary.tasks.submit({ kind: 'pkg.inspect', on }, 'test')).id);
    assert.deepEqual([inspect.state, inspect.error?.code, inspect.result], ['failed', 'ERR_TASK_FAILED', null]);
    assert.match(inspect.error?.message ?? '', /result cannot be sent to the primary: forbidden key "constructor"/);
    const deep = await ended(primary, (await primary.tasks.submit({ kind: 'pkg.deep', on }, 'test')).id);
    assert.deepEqual([deep.state, deep.error?.code], ['failed', 'ERR_TASK_FAILED']);
    assert.match(deep.error?.message ?? '', /result cannot be sent to the primary: JSON nested deeper than 30 levels/);
    await linksHeld(primary, agents);
  });

  it('library submissions and schedules a node would refuse are refused before anything is stored', async (t) => {
    // Found by review: the API checked these, the library did not. Every agent refused the `task`
    // frame as a protocol error and closed its link, and the task went again at every reconnect.
    const { primary, agents } = await cluster(t, 2);
    const bad = (pattern: RegExp) => (err: unknown) =>
      err instanceof RequestError && err.code === 'ERR_BAD_REQUEST' && pattern.test(err.message);
    const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
    // What the change does to a task submitted, and to a schedule created.
    const cases: Array<[Record<string, unknown>, RegExp, RegExp]> = [
      [
        { timeoutMs: 8 * DAY_MS },
        /^invalid task: \/timeoutMs must be <= 604800000$/,
        /^timeoutMs must be at most 604800000 \(7 days\)/,
      ],
      [{ timeoutMs: 0 }, /^invalid task: \/timeoutMs must be >= 1$/, /^timeoutMs must be an integer >= 1/],
      [{ timeoutMs: 1.5 }, /^invalid task: \/timeoutMs must be integer$/, /^timeoutMs must be an integer >= 1/],
      [{ kind: 'Node Time' }, /^invalid task: \/kind must match pattern/, /^invalid task kind "Node Time"/],
      [
        { kind: `node.${'x'.repeat(64)}` },
        /^invalid task: \/kind must not have more than 64 characters$/,
        /^invalid task kind/,
      ],
      [
        { args: tooMany },
        /^invalid task: \/args must not have more than 64 properties$/,
        /^invalid task: \/args must not have more than 64 properties$/,
      ],
    ];
    for (const [change, task, schedule] of cases) {
      const request = { kind: 'node.time', on: 'all', ...change };
      await assert.rejects(primary.tasks.submit(request as never, 'test'), bad(task), JSON.stringify(change));
      await assert.rejects(
        primary.schedules?.create({ ...request, everyMs: 1000 } as never, 'test') as Promise<unknown>,
        bad(schedule),
        `schedule ${JSON.stringify(change)}`,
      );
    }
    assert.deepEqual(await primary.tasks.list({ limit: 100 }), [], 'nothing stored');
    assert.deepEqual(await primary.schedules?.list(), []);
    // A primary whose default timeout every node would refuse does not start.
    assert.throws(
      () => new Primary({ dataDir: tempDir(t), token: TOKEN, taskTimeoutMs: 8 * DAY_MS }),
      (err: unknown) =>
        err instanceof ConfigError && /^taskTimeoutMs must be an integer from 1 to 604800000/.test(err.message),
    );
    // At the limits, accepted.
    const longest = await primary.tasks.submit({ kind: 'node.time', on: 'all', timeoutMs: 7 * DAY_MS }, 'test');
    assert.equal((await ended(primary, longest.id)).state, 'succeeded');
    await linksHeld(primary, agents);
  });
});
