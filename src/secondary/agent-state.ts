// What an agent opens from its data dir once, at start: its node id (kept across restarts), its
// secrets per primary, the vitals outbox, the task runner with its journal, its machine info, and
// the vitals sender over them. Opened whole or not at all: a failure closes what was opened.

import { join } from 'node:path';
import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import { readMachineId, readMachineInfo, VitalsReader, warnLoosePaths } from '../node/index.js';
import type { InfoPayload, VitalsPayload } from '../protocol/messages.js';
import { loadNodeIdentity, SecretStore } from './identity.js';
import { Outbox } from './outbox.js';
import type { SecondaryOptions } from './secondary-options.js';
import type { TaskRunner } from './task-runner.js';
import { openTaskRunner, type ResolvedTasksOptions, type TaskHost } from './task-setup.js';
import { VitalsSender } from './vitals-sender.js';

export interface AgentState {
  /** The OS's machine id, when it has one. */
  machineId: string | undefined;
  nodeId: string;
  secrets: SecretStore;
  outbox: Outbox;
  tasks: TaskRunner;
  info: InfoPayload;
  sender: VitalsSender;
}

export interface AgentStateOptions {
  options: SecondaryOptions;
  taskOptions: ResolvedTasksOptions;
  /** The agent: its data dir, and where task events go. */
  host: TaskHost;
  version: string;
  log: Logger;
  onSample(sample: VitalsPayload): void;
  onAck(seq: number): void;
}

/** Opens the agent's state; on failure closes what it opened and throws. */
export async function openAgentState(o: AgentStateOptions): Promise<AgentState> {
  const { options, host, log } = o;
  const machineId = await (options.machineId ?? (() => readMachineId()))();
  const identity = loadNodeIdentity(host.dataDir, machineId);
  if (identity.createdBecause) log.info({ nodeId: identity.nodeId }, `new node id (${identity.createdBecause})`);
  const secrets = new SecretStore(host.dataDir);
  const outbox = new Outbox(join(host.dataDir, 'outbox.jsonl'), { maxSamples: options.outboxMaxSamples, logger: log });
  let tasks: TaskRunner | undefined;
  try {
    const source = options.vitals ?? new VitalsReader({ dataDir: host.dataDir });
    const wallClock = options.wallClock ?? Date.now;
    let info: InfoPayload | undefined;
    tasks = openTaskRunner(o.taskOptions, host, { info: () => info, vitals: source, wallClock, logger: log });
    warnLoosePaths([host.dataDir, secrets.file, outbox.file, tasks.file], log);
    // /proc and /sys only: systeminformation would stay loaded for the agent's whole life (2.4 MB).
    info = await (
      options.machineInfo ?? (() => readMachineInfo({ version: o.version, useLibrary: false, logger: log }))
    )();
    const sender = new VitalsSender({
      outbox,
      source,
      periodMs: options.vitalsPeriodMs ?? DEFAULTS.vitalsPeriodMs,
      inFlight: DEFAULTS.vitalsInFlight,
      wallClock,
      logger: log,
      onSample: o.onSample,
      onAck: o.onAck,
    });
    return { machineId, nodeId: identity.nodeId, secrets, outbox, tasks, info, sender };
  } catch (err) {
    outbox.close();
    tasks?.close();
    throw err;
  }
}
