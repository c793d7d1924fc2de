// The settings of tasks, appended to SETTINGS. A secondary's (src/secondary/task-runner.ts): what
// this node lets its primary run. The primary can only ask; a node runs the read-only built-in
// kinds and its own kinds, and a kind that changes the machine only once its config lists it here.
// The primary's (src/primary/task-scheduler.ts): how many tasks a node is given at once, and a
// task's default timeout and time to wait for its node.

import { DEFAULTS } from '../common/defaults.js';
import { MACHINE_KINDS } from '../protocol/tasks.js';
import { array, integer, oneOf, optional, string } from './json-schema.js';
import type { Setting } from './settings.js';

export const TASK_SETTINGS: readonly Setting[] = [
  {
    key: 'tasks.allow',
    default: [],
    schema: array(oneOf(MACHINE_KINDS)),
    kind: 'list',
    roles: ['secondary'],
    arg: 'KIND[,...]',
    description: `built-in task kinds that change the machine this node runs (${MACHINE_KINDS.join(', ')}); none by default: only the read-only kinds (node.time, node.info, node.vitals, code.revision) run`,
  },
  {
    key: 'tasks.commands',
    default: [],
    schema: array(string({ minLength: 1, maxLength: 4096, pattern: '^[^\\u0000]+$' })),
    kind: 'list',
    roles: ['secondary'],
    arg: 'PROGRAM[,...]',
    description:
      'programs (names or absolute paths, matched exactly) the shell task may run as its argv[0], without a shell; shell must be in tasks.allow too',
  },
  {
    key: 'tasks.gitDir',
    default: undefined,
    schema: optional(string({ minLength: 1 })),
    kind: 'string',
    roles: ['secondary'],
    arg: 'DIR',
    description: "the git checkout of code.revision and code.pull (default: picluster's own directory)",
  },
  {
    key: 'tasks.plugins',
    default: [],
    schema: array(string({ minLength: 1, maxLength: 4096 })),
    kind: 'list',
    roles: ['secondary'],
    arg: 'FILE[,...]',
    description:
      "ES modules that register this node's own task kinds: each default-exports (secondary) => void, or {name, setup(secondary)}, and calls secondary.task(kind, handler)",
  },
  {
    key: 'tasks.maxConcurrent',
    default: DEFAULTS.tasksMaxConcurrent,
    schema: integer({ minimum: 1, maximum: 1000 }),
    kind: 'number',
    roles: ['secondary'],
    arg: 'N',
    description: 'tasks this node runs at once; one more is refused (ERR_TASK_BUSY) and the primary tries later',
  },
  {
    key: 'tasks.perNode',
    default: DEFAULTS.tasksPerNode,
    schema: integer({ minimum: 1, maximum: 1000 }),
    kind: 'number',
    roles: ['primary'],
    arg: 'N',
    description: 'tasks the primary gives one node at once; the rest wait in the queue',
  },
  {
    key: 'tasks.timeoutMs',
    default: DEFAULTS.taskTimeoutMs,
    schema: integer({ minimum: 1, maximum: 7 * 24 * 3_600_000 }),
    kind: 'duration',
    roles: ['primary'],
    arg: 'MS',
    description: "a task's timeout when its submitter gives none",
  },
  {
    key: 'tasks.ttlMs',
    default: DEFAULTS.taskTtlMs,
    schema: integer({ minimum: 0, maximum: 30 * 24 * 3_600_000 }),
    kind: 'duration',
    roles: ['primary'],
    arg: 'MS',
    description:
      'how long a task waits for its node (or any eligible node) to be online and take it when its submitter gives no ttl, from its queueing (a busy node does not start it over); then it fails (ERR_TASK_EXPIRED)',
  },
];
