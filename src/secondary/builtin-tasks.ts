// The task kinds every agent knows (protocol/tasks.ts: READ_ONLY_KINDS, MACHINE_KINDS). The
// read-only ones always run; the ones that change the machine run only when the node's own config
// lists them in `tasks.allow` (the task runner checks). Everything that touches the machine goes
// through the Executor (src/node/executor.ts): programs without a shell, reboot, power off.

import { uptime } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeOutcome, type ExecStream, type Executor } from '../node/executor.js';
import type { VitalsSource } from '../node/vitals-reader.js';
import { TaskError } from '../protocol/errors.js';
import type { InfoPayload } from '../protocol/messages.js';
import { firstIssue } from '../protocol/schema-issue.js';
import { SHELL_ARGS_CHECK } from './generated/shell-args-check.js';
import type { TaskContext, TaskHandler } from './secondary-options.js';
import { GoingDown, TaskFailure } from './task-outcome.js';

/** One kind of task: how it runs, and whether the node's config must allow it. */
export interface TaskDefinition {
  /** Changes the machine: refused (ERR_TASK_REFUSED) unless the node's config allows it. */
  readonly machine: boolean;
  /** Checks the arguments before the task is taken; throws TaskError (ERR_TASK_ARGS, ERR_TASK_REFUSED). */
  readonly check?: (args: Record<string, unknown>) => void;
  readonly run: TaskHandler;
}

/** What the built-in kinds need from the agent. */
export interface BuiltinTaskDeps {
  executor: Executor;
  /** The machine info the agent sends (`node.info`). */
  info: () => InfoPayload | undefined;
  /** Where the agent's samples come from (`node.vitals` takes a fresh one). */
  vitals: VitalsSource;
  /** The git checkout of `code.revision` and `code.pull`. */
  gitDir: string;
  /** Programs the `shell` kind may run (argv[0], matched exactly). */
  commands: readonly string[];
  /** This node's wall clock, epoch ms. */
  wallClock: () => number;
}

/** picluster's own checkout: the directory of its package.json (src/ and dist/ are one level down). */
export const OWN_GIT_DIR = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/**
 * The machine's time zone, read again at most once a minute: resolving it costs about 0.1 ms, the
 * most of a `node.time` task, and it changes only when the operator changes it.
 */
let zone = { name: '', readAt: Number.NEGATIVE_INFINITY };
function timezone(): string {
  const now = performance.now();
  if (now - zone.readAt > 60_000) zone = { name: Intl.DateTimeFormat().resolvedOptions().timeZone, readAt: now };
  return zone.name;
}

/** Output of a program read for parsing (git's one line), at most this many characters. */
const CAPTURE_LIMIT = 4096;

const NO_NUL = '^[^\\u0000]*$';
/**
 * The `shell` task's arguments, in JSON Schema (what TypeBox's Type.Object builds): compiled by
 * scripts/gen-validators.ts into generated/shell-args-check.ts, so the agent loads no TypeBox.
 */
export const SHELL_ARGS_SCHEMA = {
  type: 'object',
  required: ['argv'],
  properties: {
    argv: {
      type: 'array',
      items: { type: 'string', maxLength: 65_536, pattern: NO_NUL },
      minItems: 1,
      maxItems: 4096,
    },
    cwd: { type: 'string', minLength: 1, maxLength: 4096, pattern: NO_NUL },
    env: {
      type: 'object',
      patternProperties: { '^[^=\\u0000]{1,256}$': { type: 'string', maxLength: 65_536, pattern: NO_NUL } },
      maxProperties: 256,
    },
  },
  additionalProperties: false,
} as const;
const UNSAFE_ENV =
  /^(PATH|LD_\w*|DYLD_\w*|NODE_OPTIONS|NODE_PATH|PYTHONPATH|PYTHONSTARTUP|PYTHONHOME|PERL5LIB|PERL5OPT|RUBYOPT|RUBYLIB|BASH_ENV|ENV|IFS|GCONV_PATH|GIT_\w*)$/;

interface ShellArgs {
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
}

export function builtinTasks(deps: BuiltinTaskDeps): ReadonlyMap<string, TaskDefinition> {
  const { executor, gitDir } = deps;
  const readOnly = (run: TaskHandler): TaskDefinition => ({ machine: false, run });
  const machine = (run: TaskHandler, check?: TaskDefinition['check']): TaskDefinition => ({
    machine: true,
    run,
    check,
  });
  const command = (argv: string[], env?: Record<string, string>) =>
    machine(async (_args, ctx) => ({ exitCode: (await runProgram(executor, argv, ctx, { env })).exitCode }));
  const revision = async (ctx: TaskContext) => {
    const line = await runProgram(executor, ['git', '-C', gitDir, 'log', '-1', '--format=%H %ct'], ctx, {
      quiet: true,
    });
    const match = /^([0-9a-f]{40,64}) (\d+)$/.exec(line.stdout.trim());
    if (!match) throw new TaskError('ERR_TASK_FAILED', `git log in ${gitDir} said "${line.stdout.trim()}"`);
    return { dir: gitDir, revision: match[1] as string, commitTime: Number(match[2]) * 1000 };
  };
  return new Map<string, TaskDefinition>([
    [
      'node.time',
      readOnly(() => ({
        wallMs: deps.wallClock(),
        timezone: timezone(),
        uptimeS: uptime(),
        // The agent's monotonic clock (performance.now()): never steps, unlike wallMs.
        monotonicMs: performance.now(),
      })),
    ],
    [
      'node.info',
      readOnly(() => {
        const info = deps.info();
        if (info === undefined) throw new TaskError('ERR_TASK_FAILED', 'the machine info has not been read yet');
        return info;
      }),
    ],
    ['node.vitals', readOnly(() => deps.vitals.read())],
    ['code.revision', readOnly((_args, ctx) => revision(ctx))],
    [
      'code.pull',
      machine(async (_args, ctx) => {
        const before = (await revision(ctx)).revision;
        await runProgram(executor, ['git', '-C', gitDir, 'pull', '--ff-only'], ctx);
        return { dir: gitDir, before, after: (await revision(ctx)).revision };
      }),
    ],
    ['os.update', command(['apt-get', 'update'])],
    ['os.upgrade', command(['apt-get', '-y', 'upgrade'], { DEBIAN_FRONTEND: 'noninteractive' })],
    ['node.reboot', machine(() => new GoingDown(() => executor.reboot()))],
    ['node.shutdown', machine(() => new GoingDown(() => executor.shutdown()))],
    ['node.restart-agent', machine(() => new GoingDown(() => executor.restartAgent()))],
    [
      'shell',
      machine(
        async (args, ctx) => {
          const { argv, cwd, env } = args as unknown as ShellArgs;
          return { exitCode: (await runProgram(executor, argv, ctx, { cwd, env })).exitCode };
        },
        (args) => checkShell(args, deps.commands),
      ),
    ],
  ]);
}

/** `shell` arguments: {argv (argv[0] one of `commands`), cwd?, env?}. */
function checkShell(args: Record<string, unknown>, commands: readonly string[]): void {
  if (!SHELL_ARGS_CHECK(args)) {
    const issue = firstIssue(SHELL_ARGS_SCHEMA, args);
    throw new TaskError(
      'ERR_TASK_ARGS',
      `bad arguments for "shell" (want {argv: [program, ...args], cwd?, env?}): ${issue?.instancePath || 'args'} ${issue?.message ?? 'rejected'}`,
    );
  }
  // Names that change which program runs, or what it loads, before its own code: the primary
  // must not be able to point an allowed command at another binary (PATH) or inject code.
  const unsafe = Object.keys((args.env as Record<string, string> | undefined) ?? {}).find((name) =>
    UNSAFE_ENV.test(name),
  );
  if (unsafe !== undefined) {
    throw new TaskError(
      'ERR_TASK_REFUSED',
      `env ${unsafe} is not taken: it changes which program runs or what it loads`,
    );
  }
  const program = (args.argv as string[])[0] as string;
  if (!commands.includes(program)) {
    throw new TaskError(
      'ERR_TASK_REFUSED',
      `"${program.slice(0, 200)}" is not a command this node runs: add it to tasks.commands in this node's config`,
    );
  }
}

/**
 * Runs a program for a task: its output goes to the task, or with `quiet` is only read back (the
 * first CAPTURE_LIMIT characters of stdout; stderr's tail goes in the error). Exit code 0
 * resolves; anything else fails the task with the exit code as its result.
 */
async function runProgram(
  executor: Executor,
  argv: string[],
  ctx: TaskContext,
  options: { cwd?: string; env?: Record<string, string>; quiet?: boolean } = {},
): Promise<{ exitCode: number; stdout: string }> {
  let stdout = '';
  let stderr = '';
  const onOutput = (stream: ExecStream, text: string) => {
    if (!options.quiet) ctx.output(stream, text);
    else if (stream === 'stderr') stderr = (stderr + text).slice(-CAPTURE_LIMIT);
    else if (stdout.length < CAPTURE_LIMIT) stdout += text.slice(0, CAPTURE_LIMIT - stdout.length);
  };
  let outcome: Awaited<ReturnType<Executor['run']>>;
  try {
    outcome = await executor.run(argv, { cwd: options.cwd, env: options.env, signal: ctx.signal, onOutput });
  } catch (err) {
    throw new TaskError('ERR_TASK_FAILED', `cannot run "${argv[0]}": ${(err as Error).message}`, { cause: err });
  }
  if (outcome.exitCode === 0) return { exitCode: 0, stdout };
  const how = `${outcome.exitCode === null ? 'killed by' : 'exited with'} ${describeOutcome(outcome)}`;
  const why = stderr.trim() === '' ? '' : `: ${stderr.trim()}`;
  throw new TaskFailure('ERR_TASK_FAILED', `${argv[0]} ${how}${why}`, {
    exitCode: outcome.exitCode,
    ...(outcome.signal === null ? {} : { signal: outcome.signal }),
  });
}
