// The agent's task runner over a real Connection pair (one end plays the primary), through the
// agent's own dispatch tables (handlers/): idempotent keys, the refusals and their codes, timeout,
// cancel, output, results kept and re-sent until acknowledged, and the built-in kinds. The only
// programs really run are this node binary; every other one is a RecordingExecutor's script.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../../src/common/logger.js';
import type { Connection } from '../../../src/connection/connection.js';
import { handleRequests, MessageDispatcher } from '../../../src/connection/dispatch.js';
import { RecordingExecutor } from '../../../src/node/executor.js';
import { RemoteError, TaskError } from '../../../src/protocol/errors.js';
import type { Message } from '../../../src/protocol/messages.js';
import { MAX_OUTPUT_BYTES, type TaskResultPayload } from '../../../src/protocol/tasks.js';
import { builtinTasks } from '../../../src/secondary/builtin-tasks.js';
import { AGENT_MESSAGES, AGENT_REQUESTS, type AgentSession } from '../../../src/secondary/handlers/index.js';
import type { TaskHandler } from '../../../src/secondary/secondary-options.js';
import { TaskJournal } from '../../../src/secondary/task-journal.js';
import { STILL_UP_AFTER_MS, TaskRunner } from '../../../src/secondary/task-runner.js';
import type { VitalsSender } from '../../../src/secondary/vitals-sender.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { processAlive } from '../../helpers/process-alive.js';
import { connectionPair, waitFor } from '../../helpers/socket-pair.js';

const NODE = process.execPath;

interface Setup {
  clock?: FakeClock;
  allow?: string[];
  commands?: string[];
  maxConcurrent?: number;
  maxOutputBytes?: number;
  kinds?: Record<string, TaskHandler>;
  executor?: RecordingExecutor;
  /** The journal of an earlier runner (a restart). */
  file?: string;
  onFinished?: (result: TaskResultPayload) => void;
}

/** What the primary's end of a link saw. */
class PrimaryEnd {
  readonly results: TaskResultPayload[] = [];
  readonly outputs: Array<{ taskId: string; stream: string; data: string }> = [];
  readonly conn: Connection;
  constructor(conn: Connection) {
    this.conn = conn;
    conn.on('message', (m: Message) => {
      if (m.t === 'task.result') this.results.push(m.p as TaskResultPayload);
      if (m.t === 'task.output') this.outputs.push(m.p as PrimaryEnd['outputs'][number]);
    });
  }

  task(
    key: string,
    kind: string,
    args: Record<string, unknown> = {},
    more: { taskId?: string; timeoutMs?: number; epoch?: number } = {},
  ) {
    return this.conn.request('task', {
      taskId: more.taskId ?? `id-${key}`,
      key,
      kind,
      args,
      timeoutMs: more.timeoutMs ?? 30_000,
      epoch: more.epoch ?? 0,
    }) as Promise<{ state: string }>;
  }

  /** The first result of `taskId` (waits for it). */
  result(taskId: string, timeoutMs = 10_000): Promise<TaskResultPayload> {
    return waitFor(() => this.results.find((r) => r.taskId === taskId), timeoutMs, `the result of ${taskId}`);
  }

  ack(taskId: string, key?: string): void {
    this.conn.send('task.ack', key === undefined ? { taskId } : { taskId, key });
  }
}

async function setup(t: TestContext, options: Setup = {}) {
  let file = options.file;
  if (file === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'task-runner-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    file = join(dir, 'tasks.jsonl');
  }
  const executor = options.executor ?? new RecordingExecutor({ passThrough: [NODE] });
  const journal = new TaskJournal(file);
  const runner = new TaskRunner({
    journal,
    builtins: builtinTasks({
      executor,
      info: () => undefined,
      vitals: { read: async () => ({ ts: 1, cpuPercent: 5 }) as never },
      gitDir: '/srv/app',
      commands: options.commands ?? [],
      wallClock: Date.now,
    }),
    userKinds: new Map(Object.entries(options.kinds ?? {})),
    allow: options.allow ?? [],
    maxConcurrent: options.maxConcurrent ?? 4,
    maxOutputBytes: options.maxOutputBytes ?? MAX_OUTPUT_BYTES,
    logger: silentLogger,
    ...(options.onFinished ? { onFinished: options.onFinished } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  t.after(async () => {
    await runner.stop(100);
    runner.close();
  });
  /** A new link, served as the Secondary serves one. */
  const link = async () => {
    const pair = await connectionPair();
    t.after(pair.cleanup);
    const session: AgentSession = {
      conn: pair.b,
      sender: {} as VitalsSender,
      tasks: runner,
      info: undefined,
      log: silentLogger,
    };
    handleRequests(pair.b, AGENT_REQUESTS, session);
    const messages = new MessageDispatcher(AGENT_MESSAGES, () => {});
    pair.b.on('message', (m) => messages.dispatch(m, session));
    runner.attach(pair.b);
    return { primary: new PrimaryEnd(pair.a), agent: pair.b };
  };
  const { primary, agent } = await link();
  return { runner, journal, file, executor, primary, agent, link };
}

/** A task kind that waits until `release()` and counts its runs. */
function gated() {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const counter = { runs: 0, release: () => release() };
  const handler: TaskHandler = async () => {
    counter.runs++;
    await gate;
    return { done: true };
  };
  return { counter, handler };
}

/** A kind that runs until its signal fires. */
const untilAborted: TaskHandler = (_args, { signal }) =>
  new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

async function refusal(promise: Promise<unknown>): Promise<RemoteError> {
  const err = await promise.then(
    () => assert.fail('expected an error reply'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RemoteError, String(err));
  return err;
}

describe('TaskRunner', () => {
  it('answers running, runs the task, and reports its result', async (t) => {
    const { primary } = await setup(t);
    assert.deepEqual(await primary.task('k', 'node.time'), { state: 'running' });
    const result = await primary.result('id-k');
    assert.equal(result.state, 'succeeded');
    const time = result.result as Record<string, unknown>;
    assert.equal(typeof time.wallMs, 'number');
    assert.equal(typeof time.timezone, 'string');
    assert.equal(typeof time.uptimeS, 'number');
    assert.equal(typeof time.monotonicMs, 'number');
    assert.ok(result.endedAt >= result.startedAt);
  });

  it('a task-finished listener that throws keeps nothing from the primary, and ends nothing', async (t) => {
    // Found by review: the throw rejected the promise chain that sends the result (unhandled: the
    // agent process ended), and the result was never sent.
    let calls = 0;
    const { primary } = await setup(t, {
      onFinished: () => {
        calls++;
        throw new Error('a listener bug');
      },
    });
    await primary.task('k1', 'node.time');
    assert.equal((await primary.result('id-k1')).state, 'succeeded');
    await primary.task('k2', 'node.time');
    assert.equal((await primary.result('id-k2')).state, 'succeeded');
    assert.equal(calls, 2);
  });

  it('never runs one key twice: a resend while running, after, under another id, and after a restart', async (t) => {
    const { counter, handler } = gated();
    const first = await setup(t, { kinds: { 'test.gated': handler } });
    const { primary } = first;
    assert.deepEqual(await primary.task('k', 'test.gated'), { state: 'running' });
    assert.deepEqual(await primary.task('k', 'test.gated'), { state: 'running' }, 'the same id again');
    assert.deepEqual(await primary.task('k', 'test.gated', {}, { taskId: 'other' }), { state: 'running' });
    counter.release();
    const [a, b] = await Promise.all([primary.result('id-k'), primary.result('other')]);
    assert.deepEqual(
      [a.state, b.state, a.result, b.result],
      ['succeeded', 'succeeded', { done: true }, { done: true }],
    );
    assert.equal(counter.runs, 1);
    // Finished: the final state, and the result again.
    const before = primary.results.length;
    assert.deepEqual(await primary.task('k', 'test.gated'), { state: 'succeeded' });
    await waitFor(() => primary.results.length > before, 5_000, 'the result sent again');
    assert.deepEqual(primary.results.at(-1), a);
    // After a restart of the agent (a new runner on the same journal).
    await first.runner.stop(100);
    first.runner.close();
    const again = await setup(t, { kinds: { 'test.gated': handler }, file: first.file });
    assert.deepEqual(await again.primary.task('k', 'test.gated'), { state: 'succeeded' });
    assert.equal(counter.runs, 1);
  });

  it('refuses with a code: unknown kind, a kind the config does not allow, bad arguments, busy, stale epoch', async (t) => {
    const { counter, handler } = gated();
    const { primary, executor } = await setup(t, { kinds: { 'test.gated': handler }, maxConcurrent: 1 });
    const unknown = await refusal(primary.task('u', 'camera.snapshot'));
    assert.equal(unknown.remoteCode, 'ERR_TASK_UNKNOWN');
    const refused = await refusal(primary.task('r', 'os.update'));
    assert.equal(refused.remoteCode, 'ERR_TASK_REFUSED');
    assert.match(refused.message, /add "os\.update" to tasks\.allow in this node's config/);
    assert.equal((await refusal(primary.task('s', 'shell', { argv: ['ls'] }))).remoteCode, 'ERR_TASK_REFUSED');
    await primary.task('g', 'test.gated');
    const busy = await refusal(primary.task('b', 'node.time'));
    assert.equal(busy.remoteCode, 'ERR_TASK_BUSY');
    counter.release();
    await primary.result('id-g');
    assert.deepEqual(await primary.task('b', 'node.time'), { state: 'running' }, 'a refused key was not taken');
    assert.deepEqual(await primary.task('e5', 'node.time', {}, { epoch: 5 }), { state: 'running' });
    const stale = await refusal(primary.task('e4', 'node.time', {}, { epoch: 4 }));
    assert.equal(stale.remoteCode, 'ERR_STALE_EPOCH');
    assert.doesNotMatch(stale.message, /back to one primary/);
    // A single primary's epoch (0) after standby primaries: the refusal says how to accept it.
    const single = await refusal(primary.task('e0', 'node.time', {}, { epoch: 0 }));
    assert.equal(single.remoteCode, 'ERR_STALE_EPOCH');
    assert.match(single.message, /back to one primary\? stop this agent and remove .*tasks\.jsonl/);
    assert.deepEqual(executor.calls, [], 'nothing touched the machine');
  });

  it('refuses bad shell arguments (ERR_TASK_ARGS) and programs not in tasks.commands (ERR_TASK_REFUSED)', async (t) => {
    const { primary, executor } = await setup(t, { allow: ['shell'], commands: [NODE] });
    const bad = [{}, { argv: [] }, { argv: 'ls' }, { argv: [NODE, 'a\u0000b'] }, { argv: [NODE], x: 1 }];
    for (const [i, args] of bad.entries()) {
      const err = await refusal(primary.task(`bad-${i}`, 'shell', args));
      assert.equal(err.remoteCode, 'ERR_TASK_ARGS', JSON.stringify(args));
    }
    for (const [i, argv] of [['/bin/sh', '-c', 'id'], ['node'], [`${NODE} `]].entries()) {
      const err = await refusal(primary.task(`program-${i}`, 'shell', { argv }));
      assert.equal(err.remoteCode, 'ERR_TASK_REFUSED', argv[0]);
      assert.match(err.message, /add it to tasks\.commands/);
    }
    // An allowed program pointed elsewhere, or made to load code of the primary's choosing.
    for (const [i, name] of ['PATH', 'LD_PRELOAD', 'NODE_OPTIONS', 'GIT_SSH_COMMAND'].entries()) {
      const err = await refusal(
        primary.task(`env-${i}`, 'shell', { argv: [NODE, '-e', '0'], env: { [name]: '/tmp/x' } }),
      );
      assert.equal(err.remoteCode, 'ERR_TASK_REFUSED', name);
      assert.match(err.message, new RegExp(`env ${name} is not taken`));
    }
    assert.deepEqual(executor.calls, [], 'nothing ran');
  });

  it('shell: argv reaches the program literally, without a shell', async (t) => {
    const { primary } = await setup(t, { allow: ['shell'], commands: [NODE] });
    const args = ['a; echo pwned', '$(id)', '`id`', `"double" 'single'`, 'line1\nline2', '$HOME', '*', '&& rm -rf /'];
    const argv = [NODE, '-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...args];
    await primary.task('sh', 'shell', { argv });
    const result = await primary.result('id-sh');
    assert.equal(result.state, 'succeeded', JSON.stringify(result.error));
    assert.deepEqual(result.result, { exitCode: 0 });
    assert.deepEqual(JSON.parse(result.stdout ?? ''), args);
  });

  it('shell: a non-zero exit fails the task with its exit code, output kept', async (t) => {
    const { primary } = await setup(t, { allow: ['shell'], commands: [NODE] });
    await primary.task('x', 'shell', {
      argv: [NODE, '-e', 'console.log("out"); console.error("err"); process.exit(3)'],
      env: { PICLUSTER_T: '1' },
      cwd: '/',
    });
    const result = await primary.result('id-x');
    assert.deepEqual(
      [result.state, result.error?.code, result.result, result.stdout, result.stderr],
      ['failed', 'ERR_TASK_FAILED', { exitCode: 3 }, 'out\n', 'err\n'],
    );
    assert.match(result.error?.message ?? '', /exited with code 3/);
  });

  it('a timeout ends the task as timed_out and kills its whole process group', async (t) => {
    const { primary } = await setup(t, { allow: ['shell'], commands: [NODE] });
    const grandchild = 'setInterval(() => {}, 1000)';
    const child = `const c = require("node:child_process").spawn(process.execPath, ["-e", ${JSON.stringify(grandchild)}], { stdio: "ignore" }); console.log(c.pid); setInterval(() => {}, 1000)`;
    const started = performance.now();
    await primary.task('slow', 'shell', { argv: [NODE, '-e', child] }, { timeoutMs: 1_000 });
    const result = await primary.result('id-slow', 15_000);
    const tookMs = performance.now() - started;
    assert.deepEqual([result.state, result.error?.code], ['timed_out', 'ERR_TASK_TIMEOUT']);
    assert.ok(tookMs >= 900 && tookMs < 8_000, `took ${tookMs} ms`);
    const pid = Number(result.stdout?.trim());
    assert.ok(pid > 0, `the grandchild's pid in the output: ${result.stdout}`);
    await waitFor(() => !processAlive(pid), 8_000, 'the grandchild to be gone');
  });

  it("a timeout on a task of the node's own aborts its signal", async (t) => {
    const { primary } = await setup(t, { kinds: { 'test.forever': untilAborted } });
    await primary.task('f', 'test.forever', {}, { timeoutMs: 50 });
    const result = await primary.result('id-f');
    assert.deepEqual(
      [result.state, result.error],
      ['timed_out', { code: 'ERR_TASK_TIMEOUT', message: 'timed out after 50 ms' }],
    );
  });

  it('task.cancel ends the task as cancelled, with the reason', async (t) => {
    const { primary } = await setup(t, { kinds: { 'test.forever': untilAborted } });
    await primary.task('c', 'test.forever');
    primary.conn.send('task.cancel', { taskId: 'id-c', reason: 'operator said so' });
    const result = await primary.result('id-c');
    assert.deepEqual([result.state, result.error?.code], ['cancelled', 'ERR_TASK_CANCELLED']);
    assert.match(result.error?.message ?? '', /operator said so/);
  });

  it('errors a handler throws: a TaskError keeps its code, anything else is ERR_TASK_FAILED', async (t) => {
    const { primary } = await setup(t, {
      kinds: {
        'test.args': () => {
          throw new TaskError('ERR_TASK_ARGS', 'want a camera');
        },
        'test.boom': async () => {
          throw new Error('boom');
        },
        'test.bigint': () => 1n,
      },
    });
    await primary.task('a', 'test.args');
    await primary.task('b', 'test.boom');
    await primary.task('n', 'test.bigint');
    assert.deepEqual((await primary.result('id-a')).error, { code: 'ERR_TASK_ARGS', message: 'want a camera' });
    assert.deepEqual((await primary.result('id-b')).error, { code: 'ERR_TASK_FAILED', message: 'boom' });
    const bigint = await primary.result('id-n');
    assert.deepEqual([bigint.state, bigint.error?.code], ['failed', 'ERR_TASK_FAILED']);
    assert.match(bigint.error?.message ?? '', /not JSON/);
  });

  it('keeps the tail of the output within maxOutputBytes, says it was cut, and streams it live', async (t) => {
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i} \u00e9\u{1F600}\n`);
    const { primary } = await setup(t, {
      maxOutputBytes: 1_000,
      kinds: {
        'test.talk': (_args, { output }) => {
          for (const line of lines) output('stdout', line);
          output('stderr', 'small\n');
        },
      },
    });
    await primary.task('o', 'test.talk');
    const result = await primary.result('id-o');
    const stdout = result.stdout ?? '';
    assert.ok(Buffer.byteLength(stdout) <= 1_000, `${Buffer.byteLength(stdout)} bytes kept`);
    assert.ok(Buffer.byteLength(stdout) > 900);
    assert.ok(stdout.endsWith(lines.join('').slice(-200)), 'the tail is kept');
    assert.ok(!stdout.includes('\uFFFD'), 'cut on a whole character');
    assert.equal(result.stderr, 'small\n');
    assert.equal(result.truncated, true);
    const live = primary.outputs.filter((o) => o.taskId === 'id-o' && o.stream === 'stdout');
    assert.ok(live.length >= 1, 'sent live');
    assert.ok(live.length < 50, `coalesced: ${live.length} messages for 500 lines`);
    assert.ok(
      lines.join('').endsWith(
        live
          .map((o) => o.data)
          .join('')
          .slice(-500),
      ),
    );
  });

  it('re-sends unacknowledged results on every new link until acknowledged; a result made offline goes on the next', async (t) => {
    const { primary, agent, link, journal } = await setup(t, { kinds: { 'test.ok': () => 'ok' } });
    await primary.task('r', 'test.ok');
    await primary.result('id-r');
    agent.destroy('link lost');
    const second = await link();
    assert.equal((await second.primary.result('id-r')).result, 'ok', 're-sent on the new link');
    // An ack for another attempt of the task leaves this one's result kept.
    second.primary.ack('id-r', 'another-key');
    await second.primary.task('probe', 'test.ok'); // a round trip: the ack before it is handled
    assert.ok(journal.result('id-r'), 'kept after an ack for another attempt');
    second.primary.ack('id-probe', (await second.primary.result('id-probe')).key);
    second.primary.ack('id-r', (await second.primary.result('id-r')).key);
    await waitFor(() => journal.result('id-r') === undefined, 5_000, 'the ack to reach the agent');
    // Offline meanwhile: a result made then goes out on the next link, the acknowledged one does not.
    second.agent.destroy('link lost');
    const third = await link();
    await third.primary.task('s', 'test.ok');
    await third.primary.result('id-s');
    third.agent.destroy('link lost');
    const fourth = await link();
    await fourth.primary.result('id-s');
    assert.deepEqual(
      fourth.primary.results.map((r) => r.taskId),
      ['id-s'],
      'the acknowledged result is not sent again',
    );
  });

  it('node.reboot: the result is journaled and sent first, the reboot follows its ack; a resent key does not reboot again', async (t) => {
    const executor = new RecordingExecutor();
    const first = await setup(t, { allow: ['node.reboot'], executor });
    await first.primary.task('reboot', 'node.reboot');
    const result = await first.primary.result('id-reboot');
    assert.deepEqual([result.state, result.result], ['succeeded', { goingDown: true }]);
    assert.ok(readFileSync(first.file, 'utf8').includes('"goingDown":true'), 'in the journal before it went out');
    assert.deepEqual(executor.calls, [], 'not before the ack');
    first.primary.ack('id-reboot');
    await waitFor(() => executor.calls.length > 0, 5_000, 'the reboot');
    assert.deepEqual(executor.calls, [{ method: 'reboot' }]);
    // Back up: the same key answers with its result.
    await first.runner.stop(100);
    first.runner.close();
    const again = await setup(t, { allow: ['node.reboot'], executor, file: first.file });
    assert.deepEqual(await again.primary.task('reboot', 'node.reboot'), { state: 'succeeded' });
    assert.deepEqual(executor.calls, [{ method: 'reboot' }]);
  });

  it('once it has said it goes down, it refuses new tasks as busy (its own key still answered); a reboot that fails ends that', async (t) => {
    // Found by review: an os.upgrade sent once the node said it reboots was taken, and the reboot
    // killed apt partway: the machine was left half-upgraded.
    const executor = new RecordingExecutor();
    const { primary } = await setup(t, { allow: ['node.reboot'], executor });
    await primary.task('reboot', 'node.reboot');
    await primary.result('id-reboot');
    const busy = await refusal(primary.task('upgrade', 'node.time'));
    assert.equal(busy.remoteCode, 'ERR_TASK_BUSY');
    assert.match(busy.message, /going down \(node\.reboot\)/);
    assert.deepEqual(await primary.task('reboot', 'node.reboot'), { state: 'succeeded' }, 'its key from the journal');
    primary.ack('id-reboot');
    await waitFor(() => executor.calls.length === 1, 5_000, 'the reboot');
    assert.equal((await refusal(primary.task('upgrade', 'node.time'))).remoteCode, 'ERR_TASK_BUSY', 'still going down');

    // A reboot that fails leaves the node up: it takes tasks again.
    const failing = new RecordingExecutor();
    failing.reboot = async () => {
      failing.calls.push({ method: 'reboot' });
      throw new Error('systemctl reboot ended with code 1');
    };
    const up = await setup(t, { allow: ['node.reboot'], executor: failing });
    await up.primary.task('reboot', 'node.reboot');
    await up.primary.result('id-reboot');
    assert.equal((await refusal(up.primary.task('upgrade', 'node.time'))).remoteCode, 'ERR_TASK_BUSY');
    up.primary.ack('id-reboot');
    await waitFor(() => failing.calls.length === 1, 5_000, 'the reboot tried');
    assert.deepEqual(await up.primary.task('after', 'node.time'), { state: 'running' });
  });

  it('a node still up long after its reboot said yes (or never answered) takes tasks again', async (t) => {
    const clock = new FakeClock();
    const executor = new RecordingExecutor();
    // systemctl that never returns (D-Bus stuck): found by review.
    executor.reboot = () => {
      executor.calls.push({ method: 'reboot' });
      return new Promise<void>(() => {});
    };
    const { primary } = await setup(t, { allow: ['node.reboot'], executor, clock });
    await primary.task('reboot', 'node.reboot');
    await primary.result('id-reboot');
    primary.ack('id-reboot');
    await waitFor(() => executor.calls.length === 1, 5_000, 'the reboot');
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(STILL_UP_AFTER_MS - 1);
    assert.equal((await refusal(primary.task('early', 'node.time'))).remoteCode, 'ERR_TASK_BUSY');
    clock.advance(1);
    assert.deepEqual(await primary.task('after', 'node.time'), { state: 'running' });
  });

  it('built-in kinds run their commands through the executor, and only when allowed', async (t) => {
    const executor = new RecordingExecutor({
      script: (argv) => (argv.includes('log') ? { stdout: `${'a'.repeat(40)} 1700000000\n` } : { stdout: 'done\n' }),
    });
    const { primary } = await setup(t, { allow: ['os.update', 'os.upgrade', 'code.pull'], executor });
    await primary.task('rev', 'code.revision');
    assert.deepEqual((await primary.result('id-rev')).result, {
      dir: '/srv/app',
      revision: 'a'.repeat(40),
      commitTime: 1_700_000_000_000,
    });
    await primary.task('upd', 'os.update');
    await primary.task('upg', 'os.upgrade');
    await primary.task('pull', 'code.pull');
    for (const id of ['id-upd', 'id-upg', 'id-pull']) assert.equal((await primary.result(id)).state, 'succeeded', id);
    assert.deepEqual(executor.calls, [
      { method: 'run', argv: ['git', '-C', '/srv/app', 'log', '-1', '--format=%H %ct'] },
      { method: 'run', argv: ['apt-get', 'update'] },
      { method: 'run', argv: ['apt-get', '-y', 'upgrade'], env: { DEBIAN_FRONTEND: 'noninteractive' } },
      { method: 'run', argv: ['git', '-C', '/srv/app', 'log', '-1', '--format=%H %ct'] },
      { method: 'run', argv: ['git', '-C', '/srv/app', 'pull', '--ff-only'] },
      { method: 'run', argv: ['git', '-C', '/srv/app', 'log', '-1', '--format=%H %ct'] },
    ]);
    assert.deepEqual((await primary.result('id-upg')).stdout, 'done\n');
  });

  it('stop(): a running task is journaled failed ERR_TASK_INTERRUPTED within the timeout, and no task is taken after', async (t) => {
    const { runner, primary, file } = await setup(t, {
      kinds: { 'test.stubborn': () => new Promise(() => {}) }, // ignores its signal
    });
    await primary.task('st', 'test.stubborn');
    const started = performance.now();
    await runner.stop(200);
    assert.ok(performance.now() - started < 2_000);
    const result = await primary.result('id-st');
    assert.deepEqual([result.state, result.error?.code], ['failed', 'ERR_TASK_INTERRUPTED']);
    assert.ok(readFileSync(file, 'utf8').includes('ERR_TASK_INTERRUPTED'));
    assert.equal((await refusal(primary.task('late', 'node.time'))).remoteCode, 'ERR_TASK_BUSY');
  });

  it('a task the agent died in is reported ERR_TASK_INTERRUPTED on the next start, and never run again', async (t) => {
    const { counter, handler } = gated();
    const first = await setup(t, { kinds: { 'test.gated': handler } });
    await first.primary.task('d', 'test.gated');
    // The agent dies: no stop(), the runner is simply gone; a new one opens the same journal.
    const again = await setup(t, { kinds: { 'test.gated': handler }, file: first.file });
    const result = await again.primary.result('id-d');
    assert.deepEqual([result.state, result.error?.code], ['failed', 'ERR_TASK_INTERRUPTED']);
    assert.deepEqual(await again.primary.task('d', 'test.gated'), { state: 'failed' });
    assert.equal(counter.runs, 1);
    counter.release();
  });
});
