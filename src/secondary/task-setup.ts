// How a Secondary's task options become a TaskRunner: checked once at construction (a bad value
// is a ConfigError naming the option), then, at start, the journal opened from the data dir and
// the built-in kinds bound to the agent's executor, machine info and vitals source.

import { join } from 'node:path';
import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import { systemClock } from '../connection/clock.js';
import { type Executor, RealExecutor } from '../node/executor.js';
import type { VitalsSource } from '../node/vitals-reader.js';
import { ConfigError } from '../protocol/errors.js';
import type { InfoPayload } from '../protocol/messages.js';
import {
  BUILT_IN_KINDS,
  MACHINE_KINDS,
  MAX_OUTPUT_BYTES,
  TASK_KIND_PATTERN,
  type TaskResultPayload,
} from '../protocol/tasks.js';
import { builtinTasks, OWN_GIT_DIR } from './builtin-tasks.js';
import type { TaskHandler, TaskStarted, TasksOptions } from './secondary-options.js';
import { TaskJournal } from './task-journal.js';
import { TaskRunner } from './task-runner.js';

/** TasksOptions with every default filled in. */
export interface ResolvedTasksOptions {
  allow: readonly string[];
  commands: readonly string[];
  gitDir: string;
  maxConcurrent: number;
  maxOutputBytes: number;
  executor: Executor | undefined;
  /** The node's own kinds (`Secondary.task()`): always allowed. */
  userKinds: Map<string, TaskHandler>;
  /** The link to the primary is plaintext (--no-tls): built-in kinds that change the machine are refused. */
  plaintext: boolean;
}

const KIND = new RegExp(TASK_KIND_PATTERN);

/** @throws ConfigError naming the option that is wrong */
export function resolveTasksOptions(options: TasksOptions = {}, plaintext = false): ResolvedTasksOptions {
  const allow = [...(options.allow ?? [])];
  const unknown = allow.filter((kind) => !(MACHINE_KINDS as readonly string[]).includes(kind));
  if (unknown.length > 0) {
    throw new ConfigError(
      `tasks.allow names ${unknown.map((k) => `"${k}"`).join(', ')}: it takes the built-in kinds that change the machine (${MACHINE_KINDS.join(', ')})`,
    );
  }
  const commands = [...(options.commands ?? [])];
  if (commands.some((c) => typeof c !== 'string' || c === '' || c.includes('\0'))) {
    throw new ConfigError('tasks.commands takes program names or absolute paths, none of them empty');
  }
  const maxConcurrent = options.maxConcurrent ?? DEFAULTS.tasksMaxConcurrent;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
    throw new ConfigError(`tasks.maxConcurrent must be a whole number >= 1, got ${maxConcurrent}`);
  }
  const maxOutputBytes = options.maxOutputBytes ?? MAX_OUTPUT_BYTES;
  if (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 1 || maxOutputBytes > MAX_OUTPUT_BYTES) {
    throw new ConfigError(`tasks.maxOutputBytes must be 1 to ${MAX_OUTPUT_BYTES}, got ${maxOutputBytes}`);
  }
  if (options.gitDir === '') throw new ConfigError('tasks.gitDir must name a directory');
  return {
    allow,
    commands,
    gitDir: options.gitDir ?? OWN_GIT_DIR,
    maxConcurrent,
    maxOutputBytes,
    executor: options.executor,
    userKinds: new Map(),
    plaintext,
  };
}

/** Adds a kind of the node's own: not a built-in one, and spelled as the protocol wants. */
export function addOwnTaskKind(options: ResolvedTasksOptions, kind: string, handler: TaskHandler): void {
  if (!KIND.test(kind) || kind.length > 64) {
    throw new ConfigError(`task kind "${kind}": use lowercase words joined by "." or "-" (e.g. camera.snapshot)`);
  }
  if (BUILT_IN_KINDS.includes(kind)) throw new ConfigError(`task kind "${kind}" is built in: choose another name`);
  if (typeof handler !== 'function') throw new ConfigError(`task kind "${kind}": the handler must be a function`);
  options.userKinds.set(kind, handler);
}

/** The Secondary as the runner sees it: where its files are, its events. */
export interface TaskHost {
  readonly dataDir: string;
  emit(event: 'taskStarted', task: TaskStarted): boolean;
  emit(event: 'taskFinished', result: TaskResultPayload): boolean;
}

/** What the built-in kinds read from the agent. */
export interface TaskRunnerDeps {
  info: () => InfoPayload | undefined;
  vitals: VitalsSource;
  wallClock: () => number;
  logger: Logger;
}

/**
 * Opens the journal `tasks.jsonl` in the host's data dir (tasks cut short by a crash become
 * results ERR_TASK_INTERRUPTED) and the runner.
 */
export function openTaskRunner(options: ResolvedTasksOptions, host: TaskHost, deps: TaskRunnerDeps): TaskRunner {
  const { logger } = deps;
  const journal = new TaskJournal(join(host.dataDir, 'tasks.jsonl'), { logger, wallClock: deps.wallClock });
  const builtins = builtinTasks({
    executor: options.executor ?? new RealExecutor(),
    info: deps.info,
    vitals: deps.vitals,
    gitDir: options.gitDir,
    commands: options.commands,
    wallClock: deps.wallClock,
  });
  return new TaskRunner({
    journal,
    builtins,
    userKinds: options.userKinds,
    allow: options.allow,
    plaintext: options.plaintext,
    maxConcurrent: options.maxConcurrent,
    maxOutputBytes: options.maxOutputBytes,
    clock: { ...systemClock, wallMs: deps.wallClock },
    logger,
    onStarted: (task) => host.emit('taskStarted', task),
    onFinished: (result) => host.emit('taskFinished', result),
  });
}
