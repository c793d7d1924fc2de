// Everything a task does to the machine goes through an Executor: programs run (no shell, an argv
// array), reboot, power off, restart the agent. The agent's tasks get the real one; tests and test
// fixtures get a RecordingExecutor, so no test reboots, updates or changes the machine.
//
// A program runs in a process group of its own (`detached`): a timeout or a cancel signals the
// whole group, so the children it started go too (SIGTERM, then SIGKILL after a grace period).

import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';

export type ExecStream = 'stdout' | 'stderr';

export interface ExecOptions {
  /** Working directory. Default: the agent's. */
  cwd?: string;
  /** Variables added to the agent's environment (they win over the agent's own). */
  env?: Record<string, string>;
  /** Aborting it stops the program: SIGTERM to its process group, SIGKILL after the grace period. */
  signal: AbortSignal;
  /** Output as it comes, decoded as UTF-8 (a character split across reads is kept whole). */
  onOutput(stream: ExecStream, text: string): void;
}

/** How a program ended: its exit code, or the signal that ended it (the other one is null). */
export interface ExecOutcome {
  exitCode: number | null;
  signal: string | null;
}

export interface Executor {
  /** Runs `argv[0]` with the rest as its arguments, no shell; rejects only when it cannot start. */
  run(argv: readonly string[], options: ExecOptions): Promise<ExecOutcome>;
  /** Reboots the machine. */
  reboot(): Promise<void>;
  /** Powers the machine off. */
  shutdown(): Promise<void>;
  /** Ends the agent's process with RESTART_EXIT_CODE, for its service manager to start it again. */
  restartAgent(): Promise<void>;
}

/** How long a stopped program's group has after SIGTERM before SIGKILL, ms. */
export const DEFAULT_KILL_GRACE_MS = 5_000;

/**
 * The exit code of `restartAgent()`: EX_TEMPFAIL (75), not 0, so a systemd unit with
 * `Restart=on-failure` (or `always`) starts the agent again.
 */
export const RESTART_EXIT_CODE = 75;

export interface RealExecutorOptions {
  /** SIGTERM to SIGKILL, ms. Default 5000. */
  killGraceMs?: number;
  /** Ends the process (default `process.exit`); the library never exits on its own otherwise. */
  exit?: (code: number) => void;
}

export class RealExecutor implements Executor {
  readonly #killGraceMs: number;
  readonly #exit: (code: number) => void;

  constructor(options: RealExecutorOptions = {}) {
    this.#killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.#exit = options.exit ?? ((code) => process.exit(code));
  }

  run(argv: readonly string[], options: ExecOptions): Promise<ExecOutcome> {
    const [file, ...args] = argv;
    if (file === undefined || file === '') return Promise.reject(new TypeError('run: argv must name a program'));
    return new Promise<ExecOutcome>((resolve, reject) => {
      const child = spawn(file, args, {
        cwd: options.cwd,
        env: options.env === undefined ? process.env : { ...process.env, ...options.env },
        detached: true,
        shell: false,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
      const forward = (stream: ExecStream) => (chunk: Buffer) => {
        const text = decoders[stream].write(chunk);
        if (text !== '') options.onOutput(stream, text);
      };
      child.stdout.on('data', forward('stdout'));
      child.stderr.on('data', forward('stderr'));
      let killTimer: NodeJS.Timeout | undefined;
      // Runs in an abort listener and a timer, where a throw would end the agent: a group it may
      // not signal (only a root-owned `sudo` left in it: EPERM) is said in the task's stderr.
      const signal = (pid: number, name: NodeJS.Signals) => {
        const err = signalGroup(pid, name);
        if (err) {
          options.onOutput(
            'stderr',
            `\npicluster: cannot send ${name} to the program's process group (${err.code ?? err.message}): it may still be running\n`,
          );
        }
      };
      const stop = () => {
        if (child.pid === undefined) return;
        const pid = child.pid;
        signal(pid, 'SIGTERM');
        killTimer = setTimeout(() => signal(pid, 'SIGKILL'), this.#killGraceMs);
        killTimer.unref();
      };
      const cleanUp = () => {
        options.signal.removeEventListener('abort', stop);
        // A child that died of SIGTERM may leave members of its group that ignore it: the timer
        // stays for them, unless the group is gone.
        if (killTimer !== undefined && !groupAlive(child.pid)) clearTimeout(killTimer);
      };
      child.once('error', (err) => {
        cleanUp();
        reject(err);
      });
      child.once('close', (exitCode, signal) => {
        cleanUp();
        for (const stream of ['stdout', 'stderr'] as const) {
          const rest = decoders[stream].end();
          if (rest !== '') options.onOutput(stream, rest);
        }
        resolve({ exitCode, signal });
      });
      if (options.signal.aborted) stop();
      else options.signal.addEventListener('abort', stop, { once: true });
    });
  }

  reboot(): Promise<void> {
    return this.#system(['systemctl', 'reboot']);
  }

  shutdown(): Promise<void> {
    return this.#system(['systemctl', 'poweroff']);
  }

  async restartAgent(): Promise<void> {
    // Every journal record is written (fsync) before this is called: nothing is lost by ending now.
    this.#exit(RESTART_EXIT_CODE);
  }

  async #system(argv: string[]): Promise<void> {
    let output = '';
    const outcome = await this.run(argv, {
      signal: new AbortController().signal,
      onOutput: (_stream, text) => {
        output = (output + text).slice(-2000);
      },
    });
    if (outcome.exitCode !== 0) {
      throw new Error(`${argv.join(' ')} ended with ${describeOutcome(outcome)}: ${output.trim()}`);
    }
  }
}

/** "code 3" or "signal SIGKILL". */
export function describeOutcome(outcome: ExecOutcome): string {
  return outcome.exitCode === null ? `signal ${outcome.signal}` : `code ${outcome.exitCode}`;
}

/** Signals the process group `pid`; the error when that failed (ESRCH, a group gone already, is no error). */
function signalGroup(pid: number, signal: NodeJS.Signals): NodeJS.ErrnoException | undefined {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') return err as NodeJS.ErrnoException;
  }
  return undefined;
}

function groupAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false; // ESRCH: no process of the group is left
  }
}

/** One call a RecordingExecutor took. */
export type ExecutorCall =
  | { method: 'run'; argv: string[]; cwd?: string; env?: Record<string, string> }
  | { method: 'reboot' | 'shutdown' | 'restartAgent' };

/** What a scripted program does: its output, then its end (after `delayMs`, unless aborted first). */
export interface ScriptedRun {
  stdout?: string;
  stderr?: string;
  exitCode?: number | null;
  signal?: string | null;
  /** How long it "runs", ms; an abort ends it early with signal SIGTERM. Default 0. */
  delayMs?: number;
}

export interface RecordingExecutorOptions {
  /**
   * Answers a `run`: a ScriptedRun, or undefined for the default (exit code 0, no output).
   * Programs named in `passThrough` never reach it.
   */
  script?: (argv: readonly string[], options: ExecOptions) => ScriptedRun | undefined;
  /** Programs (argv[0], exactly) that really run: harmless ones only (`process.execPath`, `git`). */
  passThrough?: readonly string[];
  /** Runs the pass-through programs. Default: a RealExecutor. */
  real?: Executor;
}

/** Records every call; runs only the harmless programs it is told to; never reboots or exits. */
export class RecordingExecutor implements Executor {
  readonly calls: ExecutorCall[] = [];
  readonly #options: RecordingExecutorOptions;
  readonly #real: Executor;

  constructor(options: RecordingExecutorOptions = {}) {
    this.#options = options;
    this.#real = options.real ?? new RealExecutor();
  }

  /** The argv of every `run`, in order. */
  get runs(): string[][] {
    return this.calls.flatMap((call) => (call.method === 'run' ? [call.argv] : []));
  }

  run(argv: readonly string[], options: ExecOptions): Promise<ExecOutcome> {
    const call: ExecutorCall = { method: 'run', argv: [...argv] };
    if (options.cwd !== undefined) call.cwd = options.cwd;
    if (options.env !== undefined) call.env = { ...options.env };
    this.calls.push(call);
    if (this.#options.passThrough?.includes(argv[0] ?? '')) return this.#real.run(argv, options);
    return playScript(this.#options.script?.(argv, options) ?? {}, options);
  }

  async reboot(): Promise<void> {
    this.calls.push({ method: 'reboot' });
  }

  async shutdown(): Promise<void> {
    this.calls.push({ method: 'shutdown' });
  }

  async restartAgent(): Promise<void> {
    this.calls.push({ method: 'restartAgent' });
  }
}

function playScript(scripted: ScriptedRun, options: ExecOptions): Promise<ExecOutcome> {
  if (scripted.stdout) options.onOutput('stdout', scripted.stdout);
  if (scripted.stderr) options.onOutput('stderr', scripted.stderr);
  const outcome: ExecOutcome = {
    exitCode: scripted.exitCode === undefined ? 0 : scripted.exitCode,
    signal: scripted.signal ?? null,
  };
  const killed: ExecOutcome = { exitCode: null, signal: 'SIGTERM' };
  if (options.signal.aborted) return Promise.resolve(killed);
  if (!scripted.delayMs) return Promise.resolve(outcome);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(killed);
    };
    const timer = setTimeout(() => {
      options.signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    }, scripted.delayMs);
    options.signal.addEventListener('abort', onAbort, { once: true });
  });
}
