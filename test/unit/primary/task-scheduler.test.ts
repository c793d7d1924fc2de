// The task scheduler against fake node sessions (a request/send recorder per node) and a real
// SQLite store in memory: what it stores when, what it sends, and what it does when nodes answer,
// refuse, go away or never answer. The real-process version is test/integration/tasks.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/common/logger.js';
import type { Connection } from '../../../src/connection/connection.js';
import { type NodeRecord, Registry } from '../../../src/primary/registry.js';
import { NOT_RUN } from '../../../src/primary/task-placement.js';
import { type TaskRequest, TaskScheduler } from '../../../src/primary/task-scheduler.js';
import { BackpressureError, RemoteError, type RequestError } from '../../../src/protocol/errors.js';
import { FrameDecoder } from '../../../src/protocol/frame-decoder.js';
import { encodeFrame } from '../../../src/protocol/frame-encoder.js';
import { parseTarget, targetMatches } from '../../../src/protocol/task-target.js';
import { FINAL_STATES, type TaskRunPayload } from '../../../src/protocol/tasks.js';
import { NodeWriter } from '../../../src/store/node-writer.js';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import type { NodeChange, Store, TaskRow } from '../../../src/store/store-api.js';
import { waitUntil } from '../../helpers/cluster.js';

interface FakeNode {
  record: NodeRecord;
  requests: TaskRunPayload[];
  sent: Array<{ t: string; p: unknown }>;
  /** How the node answers a `task` request (default: running). */
  answer: (p: TaskRunPayload) => Promise<unknown>;
}

function fakeNode(registry: Registry, id: string, labels: Record<string, string> = {}): FakeNode {
  const node: FakeNode = {
    requests: [],
    sent: [],
    answer: async () => ({ state: 'running' }),
    record: undefined as unknown as NodeRecord,
  };
  const session = {
    state: 'open',
    request: (t: string, p: TaskRunPayload) => {
      assert.equal(t, 'task');
      node.requests.push(p);
      return node.answer(p);
    },
    send: (t: string, p: unknown) => node.sent.push({ t, p }),
  } as unknown as Connection;
  node.record = {
    id,
    name: id,
    state: 'online',
    labels,
    address: null,
    legacy: false,
    info: null,
    vitals: null,
    lastSeen: 0,
    connectedSince: 0,
    clockSkewMs: null,
    machineId: null,
    lastSeq: 0,
    clockSkewed: false,
    session,
  };
  registry.set(node.record);
  return node;
}

/**
 * The tasks' writer as the primary has it (a NodeWriter, flushMs 0) over `store`, a store a network
 * round trip away (PostgreSQL): its commits wait while the test holds them, and may be refused.
 */
function remoteWriter(store: SqliteStore) {
  let gate: Promise<void> = Promise.resolve();
  let open: (err?: Error) => void = () => {};
  const held = { commits: 0 };
  const remote = {
    applyNodeChanges: async (changes: readonly NodeChange[]) => {
      held.commits++;
      try {
        await gate;
      } finally {
        held.commits--;
      }
      return store.applyNodeChanges(changes);
    },
  } as unknown as Store;
  const writer = new NodeWriter(remote, { logger: silentLogger, flushMs: 0, busyPauseMs: 50 });
  return {
    writer,
    held,
    /** Commits wait from now on, until `release`. */
    hold(): void {
      gate = new Promise((resolve, reject) => {
        open = (err) => (err ? reject(err) : resolve());
      });
      gate.catch(() => {}); // refused for the commits that come; nobody else waits on it
    },
    /** The held commits go on (or, given `err`, are refused with it); those after them are not held. */
    release(err?: Error): void {
      open(err);
      gate = Promise.resolve();
    },
    /** Everything given to the writer so far is stored (or refused). */
    flush: () => writer.flush(),
  };
}

function setup(options: { perNode?: number; now?: () => number; ownMachineId?: string; remote?: boolean } = {}) {
  const store = new SqliteStore(':memory:');
  const registry = new Registry();
  /** Set to make every awaited write fail (a locked or full store). */
  const faults = { storeRefuses: false, refused: 0 };
  const remote = options.remote ? remoteWriter(store) : undefined;
  const scheduler = new TaskScheduler({
    registry,
    write: (changes) => {
      if (!faults.storeRefuses) return remote?.writer.write(changes) ?? store.applyNodeChanges(changes);
      faults.refused++;
      return Promise.reject(Object.assign(new Error('locked'), { code: 'ERR_STORE_BUSY' }));
    },
    post: (changes) => (remote ? remote.writer.post(changes) : void store.applyNodeChanges(changes)),
    getStored: (id) => store.getTask(id),
    listStored: (query) => store.listTasks(query),
    log: silentLogger,
    perNode: options.perNode ?? 4,
    defaultTimeoutMs: 60_000,
    defaultTtlMs: 3_600_000,
    graceMs: 100,
    sweepMs: 10,
    now: options.now,
    ownMachineId: options.ownMachineId,
  });
  const ready = (node: FakeNode) => scheduler.nodeReady(node.record);
  const run = (request: Partial<TaskRequest> = {}) =>
    scheduler.submit({ kind: 'node.time', on: 'any', ...request }, 'test');
  const result = (node: FakeNode, task: TaskRunPayload, state: 'succeeded' | 'failed' = 'succeeded') =>
    scheduler.result(
      node.record,
      { taskId: task.taskId, key: task.key, state, startedAt: 1, endedAt: 2, result: { ok: true } },
      node.record.session as Connection,
    );
  const stored = (id: string) => store.getTask(id) as Promise<TaskRow>;
  return { store, registry, scheduler, ready, run, result, stored, faults, commits: remote };
}

describe('TaskScheduler', () => {
  it('stores a task before it is sent, stores its result before the ack, and answers a resend from memory', async (t) => {
    const { registry, scheduler, ready, run, result, stored } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    let storedWhenSent: string | undefined;
    a.answer = async (p) => {
      storedWhenSent = (await stored(p.taskId)).state;
      return { state: 'running' };
    };
    ready(a);
    const task = await run();
    assert.equal((await stored(task.id)).state, 'queued');
    const sent = await waitUntil(() => a.requests[0], 2000, 'the task sent');
    await waitUntil(() => storedWhenSent, 2000, 'the node asked');
    assert.equal(storedWhenSent, 'assigned', 'stored as assigned before it went out');
    assert.equal(sent.key, `${task.id}.1`);
    await waitUntil(async () => (await scheduler.get(task.id))?.state === 'running', 2000, 'running');
    await result(a, sent);
    assert.equal((await stored(task.id)).state, 'succeeded', 'stored before the ack');
    assert.deepEqual(a.sent.at(-1), { t: 'task.ack', p: { taskId: task.id, key: sent.key } });
    // A result sent again (the node did not see the ack) is acknowledged again, changes nothing.
    await result(a, sent, 'failed');
    assert.equal((await stored(task.id)).state, 'succeeded');
    assert.equal(a.sent.filter((m) => m.t === 'task.ack').length, 2);
  });

  it('waits for a node that is not ready, and asks an assigned node again when its session is back', async (t) => {
    const { registry, scheduler, ready, run } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    const task = await run({ on: 'a' });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.requests.length, 0, 'not before its first message');
    ready(a);
    await waitUntil(() => a.requests.length === 1, 2000, 'sent once ready');
    // The node was lost and came back: the same key is asked again, never a new one.
    a.record.state = 'lost';
    scheduler.nodeGone(a.record, 'is lost');
    assert.equal((await scheduler.get(task.id))?.state, 'running');
    a.record.state = 'online';
    ready(a);
    await waitUntil(() => a.requests.length === 2, 2000, 'asked again');
    assert.equal(a.requests[1]?.key, a.requests[0]?.key);
  });

  it('a selector task refused by one node goes to another; refused by all, it fails with the refusal', async (t) => {
    const { registry, scheduler, ready, run } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a', { role: 'cam' });
    const b = fakeNode(registry, 'b', { role: 'cam' });
    for (const node of [a, b]) {
      node.answer = async () => {
        throw new RemoteError('ERR_TASK_REFUSED', 'add "os.update" to tasks.allow');
      };
      ready(node);
    }
    const task = await run({ kind: 'os.update', on: 'role=cam' });
    const done = await waitUntil(
      async () => {
        const row = await scheduler.get(task.id);
        return row?.state === 'failed' ? row : undefined;
      },
      2000,
      'failed',
    );
    assert.equal(a.requests.length + b.requests.length, 2, 'each node asked once');
    assert.equal(done.error?.code, 'ERR_TASK_REFUSED');
    assert.match(done.error?.message ?? '', /tasks\.allow/);
  });

  it('broadcast: one child per online node, the parent sums them up; cancel stops every open child', async (t) => {
    const { registry, scheduler, ready, run, result } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const nodes = ['a', 'b', 'c'].map((id) => fakeNode(registry, id));
    for (const node of nodes) ready(node);
    const parent = await run({ on: 'all' });
    await waitUntil(() => nodes.every((n) => n.requests.length === 1), 2000, 'every node asked');
    await result(nodes[0] as FakeNode, (nodes[0] as FakeNode).requests[0] as TaskRunPayload);
    const cancelled = await scheduler.cancel(parent.id, 'by test');
    assert.equal(cancelled.state, 'cancelled');
    assert.deepEqual(cancelled.result, { total: 3, succeeded: 1, cancelled: 2 });
    for (const node of nodes.slice(1)) assert.equal(node.sent.find((m) => m.t === 'task.cancel') !== undefined, true);
    await assert.rejects(scheduler.cancel(parent.id, 'again'), { code: 'ERR_CONFLICT' });
  });

  it('a read-only task on a lost node is retried elsewhere; a machine-changing one fails, and a late result replaces that', async (t) => {
    const { registry, scheduler, ready, run, result, stored } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    ready(a);
    const readOnly = await run();
    const shell = await run({ kind: 'shell', args: { argv: ['true'] } });
    await waitUntil(() => a.requests.length === 2, 2000, 'both on a');
    const b = fakeNode(registry, 'b');
    a.record.state = 'lost';
    scheduler.nodeGone(a.record, 'is lost');
    ready(b);
    await waitUntil(() => b.requests.length === 1, 2000, 'the read-only one retried on b');
    assert.equal(b.requests[0]?.taskId, readOnly.id);
    assert.equal(b.requests[0]?.key, `${readOnly.id}.2`);
    const failed = await scheduler.get(shell.id);
    assert.equal(failed?.error?.code, 'ERR_NODE_LOST');
    // Node a was only cut off: its result for the shell task arrives later and is the truth.
    await waitUntil(async () => (await stored(shell.id)).state === 'failed', 2000, 'stored');
    await result(a, a.requests.find((r) => r.taskId === shell.id) as TaskRunPayload);
    const late = await stored(shell.id);
    assert.equal(late.state, 'succeeded');
    assert.match(late.reason ?? '', /after it was lost/);
  });

  it('times out a task with no answer, and expires one whose node stays offline past its ttl', async (t) => {
    let now = 0;
    const { registry, scheduler, ready, run } = setup({ now: () => now });
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    a.answer = () => new Promise(() => {});
    ready(a);
    const silent = await run({ timeoutMs: 1000 });
    const offline = fakeNode(registry, 'z');
    offline.record.state = 'lost';
    const waiting = await run({ on: 'z', ttlMs: 5000 });
    await waitUntil(() => a.requests.length === 1, 2000, 'sent');
    now = 1200;
    const timedOut = await waitUntil(
      async () => {
        const row = await scheduler.get(silent.id);
        return row?.state === 'timed_out' ? row : undefined;
      },
      2000,
      'timed out',
    );
    assert.equal(timedOut.error?.code, 'ERR_TASK_TIMEOUT');
    assert.deepEqual(a.sent.at(-1)?.t, 'task.cancel');
    assert.equal((await scheduler.get(waiting.id))?.state, 'queued');
    now = 6000;
    const expired = await waitUntil(
      async () => {
        const row = await scheduler.get(waiting.id);
        return row?.state === 'failed' ? row : undefined;
      },
      2000,
      'expired',
    );
    assert.equal(expired.error?.code, 'ERR_TASK_EXPIRED');
  });

  it('picks the least loaded node and spreads short tasks evenly', async (t) => {
    const { registry, scheduler, ready, run, result } = setup({ perNode: 2 });
    t.after(() => scheduler.stop());
    scheduler.start();
    const nodes = ['a', 'b', 'c'].map((id) => fakeNode(registry, id));
    for (const node of nodes) {
      node.answer = async (p) => {
        setImmediate(() => void result(node, p));
        return { state: 'running' };
      };
      ready(node);
    }
    const tasks = await Promise.all(Array.from({ length: 30 }, () => run()));
    await waitUntil(
      async () =>
        (await Promise.all(tasks.map((task) => scheduler.get(task.id)))).every((r) => r?.state === 'succeeded'),
      5000,
      'all done',
    );
    assert.deepEqual(
      nodes.map((n) => n.requests.length),
      [10, 10, 10],
    );
  });
});

describe('TaskScheduler, what a review found', () => {
  it("a result handled before the node's 'running' reply is what is stored (the task never goes back to running)", async (t) => {
    // Found by CI (now and then, plaintext links): the reply and the result came in one read; the
    // result was being stored when the reply's handler marked the task running and posted that
    // row, which was stored after the final one: the task stayed 'running' for good.
    const { registry, scheduler, ready, run, result, stored } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    a.answer = (p) => {
      void result(a, p); // the result first: its row is being stored...
      return Promise.resolve({ state: 'running' }); // ...when the reply is handled
    };
    ready(a);
    const task = await run({ on: 'a' });
    await waitUntil(async () => (await stored(task.id)).state !== 'queued' && a.sent.length > 0, 5000, 'the ack');
    await new Promise((resolve) => setTimeout(resolve, 100)); // what the reply posted is stored by now
    assert.equal((await stored(task.id)).state, 'succeeded');
    assert.equal((await scheduler.get(task.id))?.state, 'succeeded');
  });

  it('a cancel refused by a full write queue goes once the queue drains; args past the frame limit fail the task', async (t) => {
    const { registry, scheduler, ready, run } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    // The session's queue is full: send returns false and queues nothing.
    const session = a.record.session as unknown as Record<string, unknown>;
    const listeners = new Map<string, Set<() => void>>();
    const on = (event: string, listener: () => void) => {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event)?.add(listener);
    };
    let full = true;
    Object.assign(session, {
      send: (type: string, p: unknown) => {
        if (type === 'task.cancel' && full) return false;
        a.sent.push({ t: type, p });
        return true;
      },
      on,
      once: on,
      off: (event: string, listener: () => void) => listeners.get(event)?.delete(listener),
    });
    const drain = () => {
      for (const listener of [...(listeners.get('drain') ?? [])]) listener();
    };
    const cancelsSent = () =>
      a.sent.filter((m) => m.t === 'task.cancel').map((m) => (m.p as { taskId: string }).taskId);
    ready(a);
    const first = await run({ on: 'a' });
    const second = await run({ on: 'a' });
    await waitUntil(() => a.requests.length === 2, 2000, 'both tasks sent');
    await scheduler.cancel(first.id, 'by test');
    await scheduler.cancel(second.id, 'by test');
    assert.deepEqual(cancelsSent(), [], 'refused by the full queue');
    assert.equal(listeners.get('drain')?.size, 1, "one 'drain' listener for the link's refused cancels");
    drain(); // the queue is still full: refused again, kept
    assert.deepEqual(cancelsSent(), []);
    full = false;
    drain();
    assert.deepEqual(cancelsSent(), [first.id, second.id], 'sent in order once the queue had room');
    assert.equal(listeners.get('drain')?.size, 0, 'the listener goes with them');
    // A task whose frame is over the limit (args given through the library) fails at once.
    a.answer = async () => {
      throw Object.assign(new Error('message "task" is 2000000 bytes, over maxFrameBytes 1048576'), {
        code: 'ERR_FRAME_TOO_LARGE',
      });
    };
    full = false;
    const big = await run({ on: 'a' });
    const ended = await waitUntil(
      async () => {
        const row = await scheduler.get(big.id);
        return row?.state === 'failed' ? row : undefined;
      },
      5000,
      'the too-large task failed',
    );
    assert.equal(ended.error?.code, 'ERR_TASK_ARGS');
  });

  it("refuses args a node's decoder would refuse (too deep, a forbidden key), up to exactly its limit", async (t) => {
    // Found by review: such args were stored and sent; the node's decoder closed the link on the
    // task frame, and the task went to the node again at every reconnect, until its timeout.
    const { scheduler, run } = setup();
    t.after(() => scheduler.stop());
    const nested = (levels: number): Record<string, unknown> => (levels <= 1 ? {} : { a: nested(levels - 1) });
    const frameOf = (args: Record<string, unknown>) =>
      encodeFrame({
        t: 'task',
        id: 1,
        p: { taskId: 't', key: 't.1', kind: 'node.time', args, timeoutMs: 1000, epoch: 0 },
      });
    // The deepest args accepted are the deepest a node decodes; one level more is refused.
    let deepest = 0;
    for (let levels = 1; levels <= 40; levels++) {
      const accepted = await run({ on: 'any', args: nested(levels) }).then(
        () => true,
        (err: unknown) => {
          assert.equal((err as RequestError).code, 'ERR_BAD_REQUEST');
          assert.match((err as Error).message, /^args: JSON nested deeper than/);
          return false;
        },
      );
      if (!accepted) break;
      deepest = levels;
    }
    assert.doesNotThrow(() => new FrameDecoder({}).push(frameOf(nested(deepest))));
    assert.throws(() => new FrameDecoder({}).push(frameOf(nested(deepest + 1))), { code: 'ERR_TOO_DEEP' });
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const args = JSON.parse(`{"x":{${JSON.stringify(key)}:0}}`) as Record<string, unknown>;
      await assert.rejects(run({ on: 'any', args }), /args: forbidden key/);
    }
  });

  it("refuses a submission whose task frame a node's schema check would refuse, before anything is stored", async (t) => {
    // Found by review: the library (and library-made schedules) skipped the API's checks. A
    // timeout over 7 days or a kind like "Node Time" was stored and sent; every node refused the
    // frame as a protocol error and closed its link, and the task went again at every reconnect.
    const { registry, scheduler, ready, run, store } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    ready(a);
    const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
    const cases: Array<[Partial<TaskRequest>, RegExp]> = [
      [{ timeoutMs: 8 * 86_400_000 }, /^invalid task: \/timeoutMs must be <= 604800000$/],
      [{ timeoutMs: 0 }, /^invalid task: \/timeoutMs must be >= 1$/],
      [{ timeoutMs: Number.NaN }, /^invalid task: \/timeoutMs must be integer$/],
      [{ kind: 'Node Time' }, /^invalid task: \/kind must match pattern/],
      [{ kind: 7 as never }, /^invalid task: \/kind must be string$/],
      [{ args: tooMany }, /^invalid task: \/args must not have more than 64 properties$/],
    ];
    for (const on of ['any', 'a', 'all']) {
      for (const [request, message] of cases) {
        await assert.rejects(
          run({ on, ...request }),
          (err: RequestError) => err.code === 'ERR_BAD_REQUEST' && message.test(err.message),
          `${on} ${JSON.stringify(request)}`,
        );
      }
    }
    assert.deepEqual(await store.listTasks({ limit: 100 }), [], 'nothing stored');
    assert.equal(a.requests.length, 0, 'nothing sent');
    // At the limits: accepted, and sent as the node's check takes it.
    const atLimits = await run({ on: 'a', timeoutMs: 7 * 86_400_000, args: { ...tooMany, k64: undefined } });
    const sent = await waitUntil(() => a.requests.find((r) => r.taskId === atLimits.id), 2000, 'sent');
    assert.equal(sent.timeoutMs, 7 * 86_400_000);
  });

  it('a stored task a node would refuse (stored by a version that did not check) fails at once, never sent', async (t) => {
    const { registry, scheduler, ready, store, stored } = setup();
    t.after(() => scheduler.stop());
    const row: TaskRow = {
      id: 'old-task',
      parent: null,
      kind: 'node.time',
      args: {},
      on: 'a',
      nodeId: 'a',
      reason: null,
      maxAttempts: 1,
      timeoutMs: 8 * 86_400_000,
      ttlMs: 3_600_000,
      createdAt: Date.now(),
      submittedBy: 'test',
      ...NOT_RUN,
    };
    await store.applyNodeChanges([{ op: 'task', task: row }]);
    scheduler.load([row]);
    scheduler.start();
    const a = fakeNode(registry, 'a');
    ready(a);
    const ended = await waitUntil(
      async () => ((await stored(row.id)).state === 'failed' ? stored(row.id) : undefined),
      2000,
      'failed',
    );
    assert.equal(ended.error?.code, 'ERR_TASK_ARGS');
    assert.match(ended.error?.message ?? '', /invalid task: \/timeoutMs must be <= 604800000\): never sent$/);
    assert.equal(a.requests.length, 0);
  });

  it('a reboot gives its node slot back: the node gets tasks again after it', async (t) => {
    const { registry, scheduler, ready, run, stored } = setup({ perNode: 1 });
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    a.record.info = { bootId: 'boot-1' } as NodeRecord['info'];
    ready(a);
    for (let i = 0; i < 3; i++) {
      const reboot = await run({ kind: 'node.reboot', on: 'a' });
      const sent = await waitUntil(() => a.requests.find((r) => r.taskId === reboot.id), 2000, 'sent');
      const session = a.record.session as Connection;
      await scheduler.result(
        a.record,
        {
          taskId: sent.taskId,
          key: sent.key,
          state: 'succeeded',
          startedAt: 1,
          endedAt: 2,
          result: { goingDown: true },
        },
        session,
      );
      assert.equal((await stored(reboot.id)).phase, 'going-down');
      scheduler.nodeGone(a.record, 'was lost');
      a.record.info = { bootId: `boot-${i + 2}` } as NodeRecord['info'];
      ready(a);
      assert.equal((await scheduler.get(reboot.id))?.state, 'succeeded', `reboot ${i + 1}`);
    }
    const after = await run({ on: 'a' });
    await waitUntil(() => a.requests.some((r) => r.taskId === after.id), 2000, 'a task after three reboots');
  });

  it('a node that said it is going down gets no new task until it is back on a new link', async (t) => {
    // Found by review: an os.upgrade submitted once pi-3 said it reboots was sent at once, taken,
    // and killed partway by the reboot (ERR_NODE_LOST, a half-upgraded machine).
    const { registry, scheduler, ready, run } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    a.record.info = { bootId: 'boot-1' } as NodeRecord['info'];
    const b = fakeNode(registry, 'b');
    ready(a);
    ready(b);
    const reboot = await run({ kind: 'node.reboot', on: 'a' });
    const sent = await waitUntil(() => a.requests.find((r) => r.taskId === reboot.id), 2000, 'the reboot sent');
    const goingDown = { taskId: sent.taskId, key: sent.key, state: 'succeeded' as const, startedAt: 1, endedAt: 2 };
    await scheduler.result(a.record, { ...goingDown, result: { goingDown: true } }, a.record.session as Connection);
    const upgrade = await run({ kind: 'os.upgrade', on: 'a' });
    const elsewhere = await run(); // `any`: b, not a
    await waitUntil(() => b.requests.some((r) => r.taskId === elsewhere.id), 2000, 'the task for any on b');
    assert.deepEqual(
      a.requests.map((r) => r.taskId),
      [reboot.id],
      'nothing more for a while it goes down',
    );
    assert.equal((await scheduler.get(upgrade.id))?.state, 'queued');
    // Down, and back with a new boot id on a new link: the upgrade goes then.
    a.record.state = 'lost';
    scheduler.nodeGone(a.record, 'was lost');
    a.record.state = 'online';
    a.record.info = { bootId: 'boot-2' } as NodeRecord['info'];
    ready(a);
    assert.equal((await scheduler.get(reboot.id))?.state, 'succeeded');
    await waitUntil(() => a.requests.some((r) => r.taskId === upgrade.id), 2000, 'the upgrade once a is back');
  });

  it('while the primary stops, the sessions it closes change no task', async (t) => {
    const { registry, scheduler, ready, run, stored } = setup();
    scheduler.start();
    const a = fakeNode(registry, 'a');
    ready(a);
    const shell = await run({ kind: 'shell', args: { argv: ['true'] } });
    await waitUntil(async () => (await stored(shell.id)).state === 'running', 2000, 'running');
    scheduler.stop();
    t.after(() => scheduler.stop());
    scheduler.nodeGone(a.record, 'was lost');
    assert.equal((await scheduler.get(shell.id))?.state, 'running');
    assert.equal((await stored(shell.id)).state, 'running', 'a restart asks the node again');
  });

  it('a result the store refuses is not acknowledged and the task stays open; sent again, it is stored once', async (t) => {
    const { registry, scheduler, ready, run, result, stored, faults } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    ready(a);
    const task = await run();
    const sent = await waitUntil(() => a.requests[0], 2000, 'sent');
    await waitUntil(async () => (await stored(task.id)).state === 'running', 2000, 'running');
    faults.storeRefuses = true;
    await assert.rejects(result(a, sent), { code: 'ERR_STORE_BUSY' });
    assert.equal(a.sent.filter((m) => m.t === 'task.ack').length, 0, 'not acknowledged');
    assert.equal((await scheduler.get(task.id))?.state, 'running', 'still open');
    faults.storeRefuses = false;
    await result(a, sent);
    assert.equal((await stored(task.id)).state, 'succeeded');
    assert.deepEqual(a.sent.at(-1), { t: 'task.ack', p: { taskId: task.id, key: sent.key } });
  });

  it('a result the store refused is stored by the sweep once it can be, on a link that stays up; it never times out meanwhile', async (t) => {
    // Found by review: the node sends a result again only on a new link; with the link up the task
    // timed out although its node had succeeded, and the result it sent later was ignored.
    let now = 0;
    const { registry, scheduler, ready, run, result, stored, faults } = setup({ now: () => now });
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    ready(a);
    const task = await run({ timeoutMs: 1000 });
    const sent = await waitUntil(() => a.requests[0], 2000, 'sent');
    faults.storeRefuses = true;
    await assert.rejects(result(a, sent), { code: 'ERR_STORE_BUSY' });
    now = 60_000; // long past its deadline
    const tries = faults.refused;
    await waitUntil(() => faults.refused >= tries + 3, 2000, 'the sweep trying again');
    assert.equal((await scheduler.get(task.id))?.state, 'running', 'not timed out: its result is in hand');
    faults.storeRefuses = false;
    await waitUntil(async () => (await stored(task.id)).state === 'succeeded', 2000, 'stored by the sweep');
    assert.deepEqual(a.sent.at(-1), { t: 'task.ack', p: { taskId: task.id, key: sent.key } });
  });

  it('a node that answers busy is left alone for a while; each assignment has a key of its own', async (t) => {
    let now = 0;
    const { registry, scheduler, ready, run } = setup({ now: () => now });
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    a.answer = async () => {
      throw new RemoteError('ERR_TASK_BUSY', 'this node runs 4 tasks, its limit');
    };
    ready(a);
    const task = await run({ on: 'a' });
    await waitUntil(() => a.requests.length === 1, 2000, 'first offer');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.requests.length, 1, 'not offered again at once');
    a.answer = async () => ({ state: 'running' });
    now = 1500;
    await waitUntil(() => a.requests.length === 2, 2000, 'offered again after the backoff');
    assert.notEqual(a.requests[1]?.key, a.requests[0]?.key);
    assert.equal((await scheduler.get(task.id))?.attempt, 1, 'a busy node is not an attempt');
  });

  it('a node that answers busy every time does not keep a task past its ttl, which counts from its queueing', async (t) => {
    // Found by review: each busy reply requeued the task with its ttl started over (a node that
    // cannot write its task journal, e.g. a full SD card, kept a task with ttlMs 2000 for good).
    let now = 0;
    const { registry, scheduler, ready, run } = setup({ now: () => now });
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    a.answer = async () => {
      throw new RemoteError('ERR_TASK_BUSY', 'this node cannot write its task journal (ENOSPC)');
    };
    ready(a);
    const task = await run({ on: 'a', ttlMs: 2000 });
    const queued = async () => (await scheduler.get(task.id))?.state === 'queued';
    await waitUntil(async () => a.requests.length === 1 && (await queued()), 2000, 'refused once');
    now = 1500;
    await waitUntil(async () => a.requests.length === 2 && (await queued()), 2000, 'refused again');
    now = 2100; // past its ttl from the queueing, not from the last refusal
    const expired = await waitUntil(
      async () => {
        const row = await scheduler.get(task.id);
        return row?.state === 'failed' ? row : undefined;
      },
      2000,
      'expired',
    );
    assert.equal(expired.error?.code, 'ERR_TASK_EXPIRED');
    assert.match(expired.error?.message ?? '', /^not taken within its ttl \(2000 ms\): node a is busy: .*ENOSPC/);
  });

  for (const [why, first] of [
    ['got no answer', () => Object.assign(new Error('no reply within 15000 ms'), { code: 'ERR_REQUEST_TIMEOUT' })],
    // Found by review: a request refused before it was sent was taken for a link down, and the
    // task stayed assigned, never sent, until it timed out.
    ['could not be sent (a full write queue)', () => new BackpressureError('write queue full')],
  ] as const) {
    it(`a task request that ${why} on a live link is asked again with the same key`, async (t) => {
      const { registry, scheduler, ready, run } = setup();
      t.after(() => scheduler.stop());
      scheduler.start();
      const a = fakeNode(registry, 'a');
      let calls = 0;
      a.answer = async () => {
        calls++;
        if (calls === 1) throw first();
        return { state: 'running' };
      };
      ready(a);
      const task = await run({ on: 'a' });
      await waitUntil(
        async () => (await scheduler.get(task.id))?.state === 'running',
        5000,
        'running after a second ask',
      );
      assert.equal(a.requests.length, 2);
      assert.equal(a.requests[1]?.key, a.requests[0]?.key, 'the same key: the node runs it once');
    });
  }

  it('a result for a task given up as lost counts only from the node it was given to', async (t) => {
    const { registry, scheduler, ready, run, stored } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    const b = fakeNode(registry, 'b');
    ready(a);
    const shell = await run({ kind: 'shell', on: 'a', args: { argv: ['true'] } });
    const sent = await waitUntil(() => a.requests[0], 2000, 'sent');
    scheduler.nodeGone(a.record, 'was lost');
    await waitUntil(async () => (await stored(shell.id)).error?.code === 'ERR_NODE_LOST', 2000, 'lost');
    const forged = { taskId: sent.taskId, key: sent.key, state: 'succeeded' as const, startedAt: 1, endedAt: 2 };
    await scheduler.result(b.record, forged, b.record.session as Connection);
    assert.equal((await stored(shell.id)).state, 'failed', "b cannot write a's result");
  });

  // Found by review: a result and a link loss in the same moment (before the result's commit; with
  // PostgreSQL a network round trip) left the wrong state in the store. The result decides.
  it('a link lost while results are stored: a retried task is not queued again, a machine-changing one not failed', async (t) => {
    const { registry, scheduler, ready, run, result, stored, commits } = setup({ remote: true });
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    const b = fakeNode(registry, 'b');
    ready(a);
    const retried = await run(); // `any`, read-only: retries left
    const shell = await run({ kind: 'shell', on: 'a', args: { argv: ['true'] } });
    await waitUntil(async () => (await stored(retried.id)).state === 'running', 2000, 'the retried one running');
    await waitUntil(async () => (await stored(shell.id)).state === 'running', 2000, 'the shell one running');
    ready(b); // where the retried task would go again
    commits?.hold();
    const results = a.requests.map((p) => result(a, p));
    a.record.state = 'lost';
    scheduler.nodeGone(a.record, 'was lost'); // the link dies (RST, kill, heartbeat) before the commit
    commits?.release();
    await Promise.all(results);
    await commits?.flush();
    for (const task of [retried, shell]) {
      const row = await stored(task.id);
      assert.equal(row.state, 'succeeded', `${task.kind}: ${row.state} ${row.reason ?? ''} ${row.error?.code ?? ''}`);
      assert.equal((await scheduler.get(task.id))?.state, 'succeeded');
      await assert.rejects(scheduler.cancel(task.id, 'by test'), { code: 'ERR_CONFLICT' });
    }
    assert.equal(b.requests.length, 0, 'not run again elsewhere');
  });

  it('a cancel while the result is stored: the result decides, and the cancel is refused as too late', async (t) => {
    const { registry, scheduler, ready, run, result, stored, commits } = setup({ remote: true });
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    ready(a);
    const task = await run({ kind: 'shell', on: 'a', args: { argv: ['true'] } });
    const sent = await waitUntil(() => a.requests[0], 2000, 'sent');
    await waitUntil(async () => (await stored(task.id)).state === 'running', 2000, 'running');
    commits?.hold();
    const storing = result(a, sent);
    const cancelled = scheduler.cancel(task.id, 'by test');
    commits?.release();
    await storing;
    await assert.rejects(cancelled, { code: 'ERR_CONFLICT', message: /is succeeded already/ });
    await commits?.flush();
    assert.equal((await stored(task.id)).state, 'succeeded');
    assert.equal(a.sent.filter((m) => m.t === 'task.cancel').length, 0, 'the node is not told to stop it');
  });

  it('a task past its deadline while its result is stored does not time out: the result decides', async (t) => {
    let now = 0;
    const { registry, scheduler, ready, run, result, stored, commits } = setup({ remote: true, now: () => now });
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    const offline = fakeNode(registry, 'z');
    offline.record.state = 'lost';
    ready(a);
    const task = await run({ on: 'a', timeoutMs: 1000 });
    const sent = await waitUntil(() => a.requests[0], 2000, 'sent');
    await waitUntil(async () => (await stored(task.id)).state === 'running', 2000, 'running');
    // Expires in the sweep that would time the task out: the sign that the sweep ran.
    const marker = await run({ on: 'z', ttlMs: 500 });
    const ended = new Set<string>();
    scheduler.on('task', (row) => FINAL_STATES.has(row.state) && ended.add(row.id));
    commits?.hold();
    const storing = result(a, sent);
    now = 5000;
    await waitUntil(() => ended.has(marker.id), 2000, 'a sweep past both deadlines');
    commits?.release();
    await storing;
    await commits?.flush();
    assert.equal((await stored(task.id)).state, 'succeeded');
    assert.equal(a.sent.filter((m) => m.t === 'task.cancel').length, 0, 'the node is not told to stop it');
  });

  it('a link lost while a result is stored that the store then refuses: the loss counts (retried elsewhere)', async (t) => {
    const { registry, scheduler, ready, run, result, stored, commits } = setup({ remote: true });
    t.after(() => scheduler.stop());
    scheduler.start();
    const a = fakeNode(registry, 'a');
    const b = fakeNode(registry, 'b');
    ready(a);
    const task = await run();
    const sent = await waitUntil(() => a.requests[0], 2000, 'sent');
    await waitUntil(async () => (await stored(task.id)).state === 'running', 2000, 'running');
    ready(b);
    commits?.hold();
    const storing = result(a, sent);
    a.record.state = 'lost';
    scheduler.nodeGone(a.record, 'was lost');
    await waitUntil(() => commits?.held.commits === 1, 2000, 'the commit under way');
    commits?.release(Object.assign(new Error('locked'), { code: 'ERR_STORE_BUSY' }));
    await assert.rejects(storing, { code: 'ERR_STORE_BUSY' });
    const again = await waitUntil(() => b.requests[0], 5000, 'retried on b');
    assert.notEqual(again.key, sent.key, 'a new attempt');
    const row = await waitUntil(
      async () => {
        const now = await stored(task.id);
        return now.nodeId === 'b' ? now : undefined;
      },
      5000,
      'stored as given to b',
    );
    assert.equal(row.attempt, 2);
    // a's socket may close later than its loss (here: never): the sweeps since (every 10 ms) did
    // not store its result again and acknowledge it.
    assert.equal(a.sent.filter((m) => m.t === 'task.ack').length, 0, "a's result is not acknowledged");
  });
});

describe('TaskScheduler rolling runs', () => {
  it('one node at a time, each healthy again before the next, a reboot after each task, the own node last', async (t) => {
    const { registry, scheduler, ready, run, result } = setup({ ownMachineId: 'own-machine' });
    t.after(() => scheduler.stop());
    scheduler.start();
    const steps: string[] = [];
    const nodes = ['a', 'b', 'c'].map((id) => fakeNode(registry, id));
    (nodes[0] as FakeNode).record.machineId = 'own-machine';
    for (const node of nodes) {
      node.answer = async (p) => {
        steps.push(`${node.record.id} ${p.kind}`);
        setImmediate(() => void result(node, p));
        return { state: 'running' };
      };
      ready(node);
    }
    const parent = await run({ on: 'all', rolling: 1, thenReboot: true });
    // No node is healthy again until it sends a sample after its step.
    await waitUntil(() => steps.length === 2, 2000, 'the first step');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(steps, ['b node.time', 'b node.reboot'], 'waits for b to be healthy');
    for (const node of nodes) node.record.vitals = { receivedAt: Date.now() + 3_600_000 } as NodeRecord['vitals'];
    const done = await waitUntil(
      async () => {
        const row = await scheduler.get(parent.id);
        return row?.state === 'succeeded' ? row : undefined;
      },
      5000,
      'the run done',
    );
    assert.deepEqual(steps, [
      'b node.time',
      'b node.reboot',
      'c node.time',
      'c node.reboot',
      'a node.time',
      'a node.reboot',
    ]);
    assert.deepEqual(done.result, { total: 6, succeeded: 6 });
  });

  it('a run of 25% of 8 nodes has two nodes in flight at a time', async (t) => {
    const { registry, scheduler, ready, run } = setup();
    t.after(() => scheduler.stop());
    scheduler.start();
    const nodes = Array.from({ length: 8 }, (_, i) => fakeNode(registry, `n${i}`));
    for (const node of nodes) ready(node);
    await run({ on: 'all', rolling: '25%' });
    await waitUntil(() => nodes.filter((n) => n.requests.length > 0).length === 2, 2000, 'two in flight');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(nodes.filter((n) => n.requests.length > 0).length, 2, 'no third before one is done');
  });
});

describe('task targets', () => {
  it('parses every form and refuses bad ones', () => {
    assert.deepEqual(parseTarget('node:abc'), { kind: 'node', node: 'abc' });
    assert.deepEqual(parseTarget('pi 3'), { kind: 'node', node: 'pi 3' });
    assert.deepEqual(parseTarget('any'), { kind: 'one', selector: { kind: 'all' } });
    assert.deepEqual(parseTarget('all'), { kind: 'all', selector: { kind: 'all' } });
    assert.deepEqual(parseTarget('all:role=cam'), {
      kind: 'all',
      selector: { kind: 'labels', pairs: [['role', 'cam']] },
    });
    assert.deepEqual(parseTarget('role=cam,arch=arm64'), {
      kind: 'one',
      selector: {
        kind: 'labels',
        pairs: [
          ['role', 'cam'],
          ['arch', 'arm64'],
        ],
      },
    });
    for (const bad of ['', 'all:', 'node:', 'a=b=c', 'node:bad id!']) {
      assert.throws(() => parseTarget(bad), { code: 'ERR_CONFIG' }, bad);
    }
  });

  it('matches labels first, then arch, os, hostname and board from the machine info', () => {
    const selector = (text: string) =>
      (parseTarget(text) as { selector: Parameters<typeof targetMatches>[0] }).selector;
    const node = { labels: { role: 'cam', arch: 'custom' }, info: { arch: 'arm64', os: 'Debian', hostname: 'pi' } };
    assert.equal(targetMatches(selector('role=cam'), node), true);
    assert.equal(targetMatches(selector('os=Debian,hostname=pi'), node), true);
    assert.equal(targetMatches(selector('arch=custom'), node), true, 'a label wins over the info');
    assert.equal(targetMatches(selector('arch=arm64'), node), false);
    assert.equal(targetMatches(selector('board=x'), node), false);
  });
});
