// Tasks end to end with real processes: a primary and secondaries started through the CLI, tasks
// submitted through the JSON API (and `picluster run`), nodes stopped, killed and restarted. The
// machine-changing kind used here is `shell` running this very node binary (allowed per node with
// --tasks-allow and --tasks-commands): nothing here changes the machine.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { TaskRow } from '../../src/store/store-api.js';
import type { Child } from '../helpers/child.js';
import {
  apiJson,
  getNodes,
  nodeIdOf,
  nodesOnline,
  type PrimaryProcess,
  runCli,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';

type Task = TaskRow & { children?: TaskRow[] };
const NODE = process.execPath;
const ALLOW_SHELL = ['--tasks-allow', 'shell', '--tasks-commands', NODE];
const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'cancelled']);

const api = <T>(primary: PrimaryProcess, method: 'GET' | 'POST', path: string, body?: unknown) =>
  apiJson<T>(primary.api, method, path, body);

const submit = (primary: PrimaryProcess, body: Record<string, unknown>) =>
  api<Task>(primary, 'POST', '/api/tasks', body);
const getTask = (primary: PrimaryProcess, id: string) => api<Task>(primary, 'GET', `/api/tasks/${id}`);

async function finished(primary: PrimaryProcess, id: string, timeoutMs = 20_000): Promise<Task> {
  let last: Task | undefined;
  try {
    return await waitUntil(
      async () => {
        last = await getTask(primary, id);
        return FINAL.has(last.state) ? last : undefined;
      },
      timeoutMs,
      `task ${id} to finish`,
    );
  } catch (err) {
    // Where it stood, and what the nodes were, for a failure on a loaded CI machine to be read.
    const { state, nodeId, reason, attempt, assignedAt, startedAt } = last ?? ({} as Partial<Task>);
    const nodes = await api(primary, 'GET', '/api/nodes').catch(() => undefined);
    throw new Error(
      `${(err as Error).message}; last seen ${JSON.stringify({ state, nodeId, reason, attempt, assignedAt, startedAt })}; nodes ${JSON.stringify(nodes)?.slice(0, 600)}`,
    );
  }
}

async function cluster(t: TestContext, names: string[], options: { primaryArgs?: string[]; nodeArgs?: string[] } = {}) {
  const dir = tempDir(t);
  const primary = await startPrimary(t, { dataDir: join(dir, 'primary'), args: options.primaryArgs });
  const nodes = new Map<string, { child: Child; dataDir: string }>();
  for (const name of names) {
    const dataDir = join(dir, name);
    nodes.set(name, { child: startSecondary(t, primary, { dataDir, name, args: options.nodeArgs }), dataDir });
  }
  await online(primary, names);
  return { dir, primary, nodes };
}

const online = (primary: PrimaryProcess, names: string[]) => nodesOnline(primary.api, names);

describe('tasks', () => {
  it('a broadcast of node.time to 5 secondaries returns 5 results (API and `picluster run --wait`)', async (t) => {
    const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const { primary } = await cluster(t, names);
    const parent = await submit(primary, { kind: 'node.time', on: 'all' });
    const done = await finished(primary, parent.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done));
    assert.equal(done.children?.length, 5);
    const nodes = await getNodes(primary.api);
    assert.deepEqual(
      done.children?.map((c) => nodes.find((n) => n.id === c.nodeId)?.name).sort(),
      names,
      'one child per node',
    );
    for (const child of done.children ?? []) {
      assert.equal(child.state, 'succeeded');
      const wallMs = (child.result as { wallMs?: number }).wallMs;
      assert.ok(typeof wallMs === 'number' && Math.abs(wallMs - Date.now()) < 60_000, JSON.stringify(child.result));
    }
    assert.deepEqual(done.result, { total: 5, succeeded: 5 });

    const run = await runCli(['run', 'node.time', '--on', 'all', '--wait', '--json', '--api', primary.api]);
    assert.equal(run.code, 0, run.stderr);
    const viaCli = JSON.parse(run.stdout) as Task;
    assert.equal(viaCli.state, 'succeeded');
    assert.equal(viaCli.children?.length, 5);
    assert.match(viaCli.submittedBy, /^cli /);
    const listed = await runCli(['tasks', '--api', primary.api]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.includes(viaCli.id) && listed.stdout.includes(parent.id), listed.stdout);
  });

  it('`any` spreads 100 short tasks over 3 nodes within a fair margin', async (t) => {
    const { primary } = await cluster(t, ['a', 'b', 'c']);
    const tasks = await Promise.all(
      Array.from({ length: 100 }, () => submit(primary, { kind: 'node.time', on: 'any' })),
    );
    const done = await Promise.all(tasks.map((task) => finished(primary, task.id, 60_000)));
    assert.ok(done.every((task) => task.state === 'succeeded'));
    const perNode = new Map<string, number>();
    for (const task of done) perNode.set(task.nodeId as string, (perNode.get(task.nodeId as string) ?? 0) + 1);
    assert.equal(perNode.size, 3, JSON.stringify([...perNode]));
    for (const [node, count] of perNode) assert.ok(count >= 20 && count <= 47, `${node} ran ${count} of 100`);
  });

  it('a node killed with tasks on it: the read-only task is retried on another node, the shell task fails `node lost`', async (t) => {
    // Slow heartbeats: node A, stopped, stays online long enough for both tasks to be given to it.
    const { dir, primary, nodes } = await cluster(t, ['a'], {
      primaryArgs: ['--heartbeat-interval-ms', '1000'],
      nodeArgs: ALLOW_SHELL,
    });
    const a = nodes.get('a')?.child as Child;
    a.kill('SIGSTOP');
    const readOnly = await submit(primary, { kind: 'node.time', on: 'any' });
    const shell = await submit(primary, { kind: 'shell', on: 'any', args: { argv: [NODE, '-e', '0'] } });
    for (const id of [readOnly.id, shell.id]) {
      await waitUntil(async () => (await getTask(primary, id)).state === 'assigned', 5000, `${id} assigned to a`);
    }
    a.kill('SIGKILL');
    startSecondary(t, primary, { dataDir: join(dir, 'b'), name: 'b', args: ALLOW_SHELL });
    const bId = await waitUntil(
      async () => (await getNodes(primary.api)).find((n) => n.name === 'b' && n.state === 'online')?.id,
      20_000,
      'b online',
    );
    const retried = await finished(primary, readOnly.id);
    assert.equal(retried.state, 'succeeded', JSON.stringify(retried));
    assert.equal(retried.nodeId, bId);
    assert.equal(retried.attempt, 2);
    const lost = await finished(primary, shell.id);
    assert.equal(lost.state, 'failed');
    assert.equal(lost.error?.code, 'ERR_NODE_LOST');
    assert.match(lost.error?.message ?? '', /lost while the task ran/);
  });

  it('a task survives a primary SIGKILL and restart and runs exactly once; one for an offline node runs when it returns', async (t) => {
    const { dir, primary, nodes } = await cluster(t, ['worker', 'sleeper'], { nodeArgs: ALLOW_SHELL });
    const marks = join(dir, 'marks.txt');
    const script = `require('fs').appendFileSync(${JSON.stringify(marks)}, 'ran\\n'); setTimeout(() => {}, 1500)`;
    const once_ = await submit(primary, { kind: 'shell', on: 'worker', args: { argv: [NODE, '-e', script] } });
    await waitUntil(async () => (await getTask(primary, once_.id)).state === 'running', 10_000, 'running');
    // The sleeper leaves on purpose; a task for it waits on the primary.
    const sleeper = nodes.get('sleeper') as { child: Child; dataDir: string };
    sleeper.child.kill('SIGTERM');
    await once(sleeper.child.process, 'exit');
    await waitUntil(
      async () => (await getNodes(primary.api)).find((n) => n.name === 'sleeper')?.state === 'left',
      10_000,
      'sleeper left',
    );
    const waiting = await submit(primary, { kind: 'node.time', on: 'sleeper' });
    assert.equal((await getTask(primary, waiting.id)).state, 'queued');

    primary.child.kill('SIGKILL');
    await once(primary.child.process, 'exit');
    const again = await startPrimary(t, {
      dataDir: primary.dataDir,
      port: primary.port,
      webPort: primary.webPort,
    });
    const done = await finished(again, once_.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done));
    assert.equal(readFileSync(marks, 'utf8'), 'ran\n', 'the command ran once');
    assert.equal((await getTask(again, waiting.id)).state, 'queued', 'still waiting for its node');

    startSecondary(t, again, { dataDir: sleeper.dataDir, name: 'sleeper', args: ALLOW_SHELL });
    const ran = await finished(again, waiting.id);
    assert.equal(ran.state, 'succeeded');
    assert.equal(ran.nodeId, nodeIdOf(sleeper.dataDir));
    assert.equal(ran.attempt, 1);
  });

  it('a primary stopped cleanly (SIGTERM) and started again finishes the task it had out, not failing it as lost', async (t) => {
    const { primary } = await cluster(t, ['steady'], { nodeArgs: ALLOW_SHELL });
    const task = await submit(primary, {
      kind: 'shell',
      on: 'steady',
      args: { argv: [NODE, '-e', 'setTimeout(() => {}, 1500)'] },
    });
    await waitUntil(async () => (await getTask(primary, task.id)).state === 'running', 10_000, 'running');
    primary.child.kill('SIGTERM');
    await once(primary.child.process, 'exit');
    const again = await startPrimary(t, { dataDir: primary.dataDir, port: primary.port, webPort: primary.webPort });
    const done = await finished(again, task.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done));
    assert.equal(done.error, null);
    assert.doesNotMatch(done.reason ?? '', /lost/, 'never taken for lost on the way');
  });

  it('the node refuses what its config does not allow, with a clear error', async (t) => {
    const { primary } = await cluster(t, ['strict']);
    const update = await finished(primary, (await submit(primary, { kind: 'os.update', on: 'strict' })).id);
    assert.equal(update.state, 'failed');
    assert.equal(update.error?.code, 'ERR_TASK_REFUSED');
    assert.match(update.error?.message ?? '', /tasks\.allow/);
    const shell = await finished(
      primary,
      (await submit(primary, { kind: 'shell', on: 'strict', args: { argv: ['rm', '-rf', '/tmp/x'] } })).id,
    );
    assert.equal(shell.error?.code, 'ERR_TASK_REFUSED');
    const unknown = await finished(primary, (await submit(primary, { kind: 'no.such-kind', on: 'strict' })).id);
    assert.equal(unknown.error?.code, 'ERR_TASK_UNKNOWN');
  });

  it('shell arguments with ; $(...) quotes backticks and newlines reach the program as literal argv; timeouts and cancel', async (t) => {
    const { primary } = await cluster(t, ['pi'], { nodeArgs: ALLOW_SHELL });
    const tricky = [
      'a;b',
      '$(touch /tmp/picluster-pwned)',
      "'single'",
      '"double"',
      'line1\nline2',
      '`id`',
      '&& echo no',
    ];
    const printArgv = 'process.stdout.write(JSON.stringify(process.argv.slice(1)))';
    const echoed = await finished(
      primary,
      (await submit(primary, { kind: 'shell', on: 'pi', args: { argv: [NODE, '-e', printArgv, ...tricky] } })).id,
    );
    assert.equal(echoed.state, 'succeeded', JSON.stringify(echoed));
    assert.deepEqual(JSON.parse(echoed.stdout ?? ''), tricky);
    assert.equal(existsSync('/tmp/picluster-pwned'), false);

    const sleep = [NODE, '-e', 'setTimeout(() => {}, 30000)'];
    const slow = await finished(
      primary,
      (await submit(primary, { kind: 'shell', on: 'pi', timeoutMs: 500, args: { argv: sleep } })).id,
    );
    assert.equal(slow.state, 'timed_out', JSON.stringify(slow));

    const long = await submit(primary, { kind: 'shell', on: 'pi', args: { argv: sleep } });
    await waitUntil(async () => (await getTask(primary, long.id)).state === 'running', 10_000, 'running');
    const cancelled = await api<Task>(primary, 'POST', `/api/tasks/${long.id}/cancel`);
    assert.equal(cancelled.state, 'cancelled');
    await assert.rejects(api(primary, 'POST', `/api/tasks/${long.id}/cancel`), /409/);
    // The node stays well: it runs the next task.
    const next = await finished(primary, (await submit(primary, { kind: 'node.time', on: 'pi' })).id);
    assert.equal(next.state, 'succeeded');
  });

  it('a rolling run over 4 nodes goes one node at a time and stops at the node whose task fails', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    // One after another, so the run's order is the join order; r3 does not allow shell.
    for (const name of ['r1', 'r2', 'r3', 'r4']) {
      startSecondary(t, primary, { dataDir: join(dir, name), name, args: name === 'r3' ? [] : ALLOW_SHELL });
      await online(primary, [name]);
    }
    const run = await runCli([
      'run',
      'shell',
      '--on',
      'all',
      '--rolling',
      '1',
      '--wait',
      '--json',
      '--api',
      primary.api,
      '--',
      NODE,
      '-e',
      'setTimeout(() => {}, 200)',
    ]);
    assert.equal(run.code, 1, 'the run failed');
    const done = JSON.parse(run.stdout) as Task;
    assert.equal(done.state, 'failed');
    const nodes = await getNodes(primary.api);
    const byName = (name: string) => done.children?.find((c) => c.nodeId === nodes.find((n) => n.name === name)?.id);
    assert.deepEqual(
      ['r1', 'r2', 'r3', 'r4'].map((name) => byName(name)?.state),
      ['succeeded', 'succeeded', 'failed', 'cancelled'],
    );
    assert.equal(byName('r3')?.error?.code, 'ERR_TASK_REFUSED');
    assert.match(byName('r4')?.error?.message ?? '', /rolling run stopped: shell failed on node r3/);
    assert.equal(byName('r4')?.attempt, 0, 'r4 never ran');
    // One at a time: each node started after the one before it had ended.
    const [r1, r2, r3] = ['r1', 'r2', 'r3'].map(byName) as [TaskRow, TaskRow, TaskRow];
    assert.ok((r2.assignedAt as number) >= (r1.endedAt as number), 'r2 waited for r1');
    assert.ok((r3.assignedAt as number) >= (r2.endedAt as number), 'r3 waited for r2');
  });

  it("runs a node's own kind from a plugin file; a plugin that does not load stops the agent with exit 2", async (t) => {
    const plugin = new URL('../fixtures/camera-plugin.mjs', import.meta.url).pathname;
    const { primary } = await cluster(t, ['cam'], { nodeArgs: ['--tasks-plugins', plugin] });
    const snap = await finished(
      primary,
      (await submit(primary, { kind: 'camera.snapshot', on: 'cam', args: { resolution: '720p' } })).id,
    );
    assert.equal(snap.state, 'succeeded', JSON.stringify(snap));
    assert.deepEqual(snap.result, { file: '/tmp/snap-720p.jpg' });
    assert.equal(snap.stdout, 'snap at 720p\n');
    const bad = await runCli([
      'secondary',
      '--primary',
      `127.0.0.1:${primary.port}`,
      '--no-tls',
      '--data-dir',
      join(tempDir(t), 'bad'),
      '--tasks-plugins',
      '/nowhere/plugin.mjs',
    ]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stdout + bad.stderr, /tasks\.plugins: cannot load \/nowhere\/plugin\.mjs/);
  });

  it('over a plaintext link (--no-tls) a node refuses the kinds that change the machine, and runs the others', async (t) => {
    const { primary, nodes } = await cluster(t, ['plain'], {
      primaryArgs: ['--no-tls', '--log-level', 'debug'],
      nodeArgs: ['--no-tls', '--log-level', 'debug', ...ALLOW_SHELL],
    });
    const shell = await finished(
      primary,
      (await submit(primary, { kind: 'shell', on: 'plain', args: { argv: [NODE, '-e', '0'] } })).id,
    );
    assert.equal(shell.error?.code, 'ERR_TASK_REFUSED');
    assert.match(shell.error?.message ?? '', /not TLS/);
    // Seen in CI now and then (1 run in 6-8 here with 8 at once): the node logs the task
    // succeeded, the primary keeps it running; a failure says what both logged.
    const time = await finished(primary, (await submit(primary, { kind: 'node.time', on: 'plain' })).id).catch(
      (err: Error) => {
        const tail = (child: Child) => child.stderr.join('').slice(-1500);
        throw new Error(
          `${err.message}\nprimary log: ${tail(primary.child)}\nnode log: ${[...nodes.values()].map((n) => tail(n.child)).join('')}`,
        );
      },
    );
    assert.equal(time.state, 'succeeded');
  });

  it('refuses bad submissions with 400/404 and a reason', async (t) => {
    const { primary } = await cluster(t, ['x']);
    await assert.rejects(submit(primary, { kind: 'Bad Kind', on: 'x' }), /400/);
    await assert.rejects(submit(primary, { kind: 'node.time', on: 'nobody' }), /404.*no node with id or name/);
    await assert.rejects(submit(primary, { kind: 'node.time', on: 'all:role=none' }), /404.*no online node matches/);
    await assert.rejects(submit(primary, { kind: 'node.time', on: 'a=b=c' }), /400/);
    await assert.rejects(api(primary, 'GET', '/api/tasks?state=bogus'), /400/);
    await assert.rejects(api(primary, 'GET', '/api/tasks/no-such-task'), /404/);
    await assert.rejects(submit(primary, { kind: 'node.time', on: 'x', rolling: 1 }), /400.*needs a broadcast/);
    await assert.rejects(submit(primary, { kind: 'node.time', on: 'all', rolling: '0%' }), /400/);
  });
});
