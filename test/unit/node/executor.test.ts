// The executor every task that touches the machine goes through: programs run without a shell
// (argv reaches them as it is), in a process group of their own that an abort ends whole; the
// RecordingExecutor records and scripts, and never reboots or exits. Nothing here changes the
// machine: the only programs run are this node binary.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ExecOptions,
  type ExecStream,
  RESTART_EXIT_CODE,
  RealExecutor,
  RecordingExecutor,
} from '../../../src/node/executor.js';
import { processAlive } from '../../helpers/process-alive.js';
import { waitFor } from '../../helpers/socket-pair.js';

const NODE = process.execPath;

/** Runs argv and gathers its output. */
async function runCollecting(
  executor: RealExecutor | RecordingExecutor,
  argv: string[],
  options: Partial<ExecOptions> = {},
) {
  const out: Record<ExecStream, string> = { stdout: '', stderr: '' };
  const outcome = await executor.run(argv, {
    signal: new AbortController().signal,
    ...options,
    onOutput: (stream, text) => {
      out[stream] += text;
    },
  });
  return { ...outcome, ...out };
}

describe('RealExecutor', () => {
  it('passes argv as it is, without a shell: ; $(...) quotes backticks and newlines stay literal', async () => {
    const args = ['a; echo pwned', '$(id)', '`id`', `"double" 'single'`, 'line1\nline2', '$HOME', '*', ''];
    const { exitCode, stdout } = await runCollecting(new RealExecutor(), [
      NODE,
      '-e',
      'process.stdout.write(JSON.stringify(process.argv.slice(1)))',
      ...args,
    ]);
    assert.equal(exitCode, 0);
    assert.deepEqual(JSON.parse(stdout), args);
  });

  it('runs in the given directory with the given variables added, and reports the exit code', async () => {
    const { exitCode, stdout, stderr } = await runCollecting(
      new RealExecutor(),
      [NODE, '-e', 'console.log(process.cwd(), process.env.PICLUSTER_X); console.error("e"); process.exit(3)'],
      { cwd: '/', env: { PICLUSTER_X: 'y z' } },
    );
    assert.deepEqual([exitCode, stdout, stderr], [3, '/ y z\n', 'e\n']);
  });

  it('keeps a character split across reads whole', async () => {
    // One 4-byte character written in two halves, with a pause between them.
    const code =
      'const b = Buffer.from("\u{1F600}"); process.stdout.write(b.subarray(0, 2)); setTimeout(() => process.stdout.write(b.subarray(2)), 50)';
    const chunks: string[] = [];
    await new RealExecutor().run([NODE, '-e', code], {
      signal: new AbortController().signal,
      onOutput: (_s, text) => chunks.push(text),
    });
    assert.equal(chunks.join(''), '\u{1F600}');
    assert.ok(!chunks.join('').includes('\uFFFD'));
  });

  it('rejects when the program cannot start', async () => {
    await assert.rejects(runCollecting(new RealExecutor(), ['/nonexistent/picluster-test-program']), /ENOENT/);
  });

  it('an abort ends the whole process group: SIGTERM, then SIGKILL for what ignores it', async () => {
    // The child starts a grandchild that ignores SIGTERM, says its pid, and both wait forever.
    const grandchild = 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)';
    const child = `const c = require("node:child_process").spawn(process.execPath, ["-e", ${JSON.stringify(grandchild)}], { stdio: "ignore" }); console.log(c.pid); setInterval(() => {}, 1000)`;
    const controller = new AbortController();
    let stdout = '';
    const started = performance.now();
    const run = new RealExecutor({ killGraceMs: 300 }).run([NODE, '-e', child], {
      signal: controller.signal,
      onOutput: (_s, text) => {
        stdout += text;
      },
    });
    const pid = Number(await waitFor(() => /^\d+\n/.exec(stdout)?.[0], 10_000, "the grandchild's pid"));
    assert.ok(processAlive(pid));
    controller.abort();
    const outcome = await run;
    assert.deepEqual(outcome, { exitCode: null, signal: 'SIGTERM' });
    await waitFor(() => !processAlive(pid), 5_000, 'the grandchild to be killed');
    assert.ok(performance.now() - started < 12_000);
  });

  it('a process group it may not signal (EPERM: a root-owned sudo in it) is said in stderr, and nothing throws', async (t) => {
    // Found by review: the error was thrown from the abort listener (and the SIGKILL timer), out
    // of every catch: the agent ended when a task running `sudo …` timed out or was cancelled.
    const kill = process.kill.bind(process);
    t.mock.method(process, 'kill', (pid: number, signal?: string | number) => {
      if (pid < 0 && signal !== 0) throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
      return kill(pid, signal);
    });
    const controller = new AbortController();
    let stderr = '';
    let started = false;
    const run = new RealExecutor({ killGraceMs: 50 }).run(
      [NODE, '-e', 'console.log("up"); setTimeout(() => {}, 2000)'],
      {
        signal: controller.signal,
        onOutput: (stream, text) => {
          if (stream === 'stderr') stderr += text;
          else started = true;
        },
      },
    );
    await waitFor(() => started, 10_000, 'the program up');
    controller.abort();
    await waitFor(() => stderr.includes('SIGKILL'), 5_000, 'the SIGKILL refusal said');
    assert.match(stderr, /cannot send SIGTERM to the program's process group \(EPERM\): it may still be running/);
    // The program could not be stopped: it ends by itself.
    assert.deepEqual(await run, { exitCode: 0, signal: null });
  });

  it('reboots and powers off through systemctl, and restarts the agent by exiting 75', async () => {
    const runs: string[][] = [];
    const exits: number[] = [];
    class Dry extends RealExecutor {
      override async run(argv: readonly string[]) {
        runs.push([...argv]);
        return { exitCode: 0, signal: null };
      }
    }
    const executor = new Dry({ exit: (code) => exits.push(code) });
    await executor.reboot();
    await executor.shutdown();
    await executor.restartAgent();
    assert.deepEqual(runs, [
      ['systemctl', 'reboot'],
      ['systemctl', 'poweroff'],
    ]);
    assert.deepEqual(exits, [RESTART_EXIT_CODE]);
    assert.equal(RESTART_EXIT_CODE, 75);
  });
});

describe('RecordingExecutor', () => {
  it('records every call and answers runs from its script, running nothing', async () => {
    const executor = new RecordingExecutor({
      script: (argv) => (argv[0] === 'apt-get' ? { stdout: 'Reading package lists...\n', exitCode: 100 } : undefined),
    });
    const update = await runCollecting(executor, ['apt-get', 'update'], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
    assert.deepEqual([update.exitCode, update.stdout], [100, 'Reading package lists...\n']);
    assert.equal((await runCollecting(executor, ['rm', '-rf', '/'])).exitCode, 0, 'the default answer');
    await executor.reboot();
    await executor.shutdown();
    await executor.restartAgent();
    assert.deepEqual(executor.calls, [
      { method: 'run', argv: ['apt-get', 'update'], env: { DEBIAN_FRONTEND: 'noninteractive' } },
      { method: 'run', argv: ['rm', '-rf', '/'] },
      { method: 'reboot' },
      { method: 'shutdown' },
      { method: 'restartAgent' },
    ]);
  });

  it('runs the harmless programs it is told to for real', async () => {
    const executor = new RecordingExecutor({ passThrough: [NODE] });
    const { stdout } = await runCollecting(executor, [NODE, '-e', 'process.stdout.write("real")']);
    assert.equal(stdout, 'real');
    assert.deepEqual(executor.runs, [[NODE, '-e', 'process.stdout.write("real")']]);
  });

  it('a scripted run that takes time ends with SIGTERM when aborted', async () => {
    const executor = new RecordingExecutor({ script: () => ({ delayMs: 60_000 }) });
    const controller = new AbortController();
    const run = runCollecting(executor, ['sleep', '60'], { signal: controller.signal });
    controller.abort();
    assert.deepEqual(
      { exitCode: (await run).exitCode, signal: (await run).signal },
      { exitCode: null, signal: 'SIGTERM' },
    );
  });
});
