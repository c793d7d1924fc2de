// Real child processes for integration tests: forked with tsx, controlled over IPC, always killed
// at the end of the test (even on failure), events awaited with bounded timeouts.
import { type ChildProcess, fork } from 'node:child_process';
import type { TestContext } from 'node:test';

export interface ChildEvent {
  event: string;
  [key: string]: unknown;
}

export interface ChildOptions {
  /** Run the child inside this network namespace (needs root and iproute2). */
  netns?: string;
  /** Path of the `ip` program (default: found on PATH). */
  ipPath?: string;
}

export class Child {
  readonly process: ChildProcess;
  readonly events: ChildEvent[] = [];
  readonly stderr: string[] = [];
  #waiters: Array<() => void> = [];

  constructor(file: string, args: string[], env: Record<string, string> = {}, options: ChildOptions = {}) {
    // Inside a network namespace: `ip netns exec NS node ...` execs node in place, so the pid,
    // the IPC channel and stderr are node's own.
    const inNetns = options.netns
      ? { execPath: options.ipPath ?? 'ip', execArgv: ['netns', 'exec', options.netns, process.execPath] }
      : { execArgv: [] as string[] };
    this.process = fork(file, args, {
      ...(inNetns.execPath ? { execPath: inNetns.execPath } : {}),
      execArgv: [...inNetns.execArgv, '--import', 'tsx'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.process.stderr?.setEncoding('utf8').on('data', (d: string) => this.stderr.push(d));
    this.process.on('message', (m) => {
      this.events.push(m as ChildEvent);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.process.on('exit', () => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  get pid(): number {
    return this.process.pid as number;
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  send(command: Record<string, unknown>): void {
    this.process.send(command);
  }

  /** Resolves with the first event (already seen or still to come) that matches. */
  async waitFor(predicate: (e: ChildEvent) => boolean, timeoutMs = 5000, what = 'event'): Promise<ChildEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; events: ${JSON.stringify(this.events.slice(-5))}; stderr: ${this.stderr.join('').slice(-2000)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends a command and waits for the reply event named `reply`. */
  async ask(command: Record<string, unknown>, reply: string, timeoutMs = 5000): Promise<ChildEvent> {
    const before = this.events.length;
    this.send(command);
    return this.waitFor((e) => e.event === reply && this.events.indexOf(e) >= before, timeoutMs, reply);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive) this.process.kill(signal);
  }
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Kills `child` when this test process ends, whichever way (a file timeout sends SIGTERM, and
 * `t.after` never runs then): for every process a test starts, forked or spawned.
 */
export function killOnExit(child: ChildProcess): void {
  installExitHook();
  live.add(child);
  child.once('exit', () => live.delete(child));
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const child of live) {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill('SIGCONT');
          child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  };
  process.once('exit', killAll);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    });
  }
}

/** Forks a child that the test context kills when the test ends, whatever happened. */
export function spawnChild(
  t: TestContext,
  file: string,
  args: string[] = [],
  env: Record<string, string> = {},
  options: ChildOptions = {},
): Child {
  const child = new Child(file, args, env, options);
  killOnExit(child.process);
  t.after(() => {
    if (child.process.signalCode === 'SIGSTOP') child.kill('SIGCONT');
    child.kill('SIGKILL');
  });
  return child;
}
