// The primary's tasks, put together: the scheduler over the store, with a writer of its own that
// commits at once when idle and groups what comes meanwhile (a task's latency is a few commits,
// not a few batching delays), loaded with the tasks open at the last stop; and the task schedules
// that submit to it, loaded with the stored schedules.

import type { Logger } from '../common/logger.js';
import { readMachineId } from '../node/machine-info.js';
import { NodeWriter } from '../store/node-writer.js';
import type { Store } from '../store/store-api.js';
import type { ResolvedOptions } from './primary-options.js';
import type { Registry } from './registry.js';
import { TaskScheduler } from './task-scheduler.js';
import { TaskSchedules } from './task-schedules.js';

export interface TaskService {
  scheduler: TaskScheduler;
  /** Task schedules (loaded; start them after the scheduler, stop them with it). */
  schedules: TaskSchedules;
  /** Flushes and closes the tasks' writer (after the scheduler and the schedules stopped). */
  close(): Promise<void>;
}

export async function openTaskService(o: {
  store: Store;
  registry: Registry;
  log: Logger;
  options: Pick<ResolvedOptions, 'tasksPerNode' | 'taskTimeoutMs' | 'taskTtlMs'>;
  notBack: (nodeId: string) => void;
  /** HA: the leader's epoch (carried by every task sent) and its fence. */
  leader?: { epoch: number; mayAct(): boolean };
}): Promise<TaskService> {
  const { store } = o;
  const writer = new NodeWriter(store, { logger: o.log, flushMs: 0 });
  const scheduler = new TaskScheduler({
    registry: o.registry,
    write: (changes) => writer.write(changes),
    post: (changes) => writer.post(changes),
    getStored: (id) => store.getTask(id),
    listStored: (query) => store.listTasks(query),
    log: o.log,
    perNode: o.options.tasksPerNode,
    defaultTimeoutMs: o.options.taskTimeoutMs,
    defaultTtlMs: o.options.taskTtlMs,
    ownMachineId: await readMachineId(),
    notBack: o.notBack,
    epoch: o.leader?.epoch,
    mayAct: o.leader?.mayAct,
  });
  scheduler.load(await store.openTasks());
  const schedules = new TaskSchedules({
    submit: (request, by) => scheduler.submit(request, by),
    write: (changes) => writer.write(changes),
    listStored: () => store.listSchedules(),
    runsOf: (id, limit) => store.scheduleRuns(id, limit),
    getTask: (id) => scheduler.get(id),
    log: o.log,
  });
  await schedules.load();
  return { scheduler, schedules, close: () => writer.close() };
}
