// The options of a Secondary (src/secondary/secondary.ts), its states, events and plugins; the
// CLI fills the options from the settings table (src/cli/settings.ts).

import type { Logger } from '../common/logger.js';
import type { ReconnectOptions } from '../connection/backoff.js';
import type { Connection } from '../connection/connection.js';
import type { ExecStream, Executor } from '../node/executor.js';
import type { VitalsSource } from '../node/vitals-reader.js';
import type { DisconnectionError, PiclusterError } from '../protocol/errors.js';
import type { InfoPayload, Message, VitalsPayload } from '../protocol/messages.js';
import type { TaskResultPayload } from '../protocol/tasks.js';
import type { PrimaryAddress } from './primary-address.js';
import type { SecondaryTlsOptions } from './primary-trust.js';
import type { Secondary } from './secondary.js';

export interface SecondaryOptions {
  /** Primaries to try in turn: `[{host, port}]` or "host:port,host:port". */
  primary: PrimaryAddress[] | string;
  /** Node id, secrets and outbox live here. Default ./data. */
  dataDir?: string;
  /** Display name. Default the hostname. */
  name?: string;
  labels?: Record<string, string>;
  /** Cluster token for the first join (later joins use the node secret). */
  token?: string;
  /** Heartbeat until the primary announces its own in `hello`, ms. Default 5000. */
  heartbeatIntervalMs?: number;
  handshakeTimeoutMs?: number;
  /** Period of vitals samples, ms. Default 10000. */
  vitalsPeriodMs?: number;
  reconnect?: Partial<ReconnectOptions>;
  outboxMaxSamples?: number;
  /** How long `stop()` waits for the outbox to be acknowledged, ms. Default 2000. */
  stopTimeoutMs?: number;
  version?: string;
  logger?: Logger;
  /** Where samples come from (tests inject fakes). Default: a VitalsReader on this machine. */
  vitals?: VitalsSource;
  /** Machine info (default: read from this machine). */
  machineInfo?: () => Promise<InfoPayload>;
  /**
   * TLS to the primary (the default): whom to trust (a pinned fingerprint, a CA, or the first
   * certificate seen) and this node's own certificate for mutual TLS. With none of the three the
   * node refuses every primary. `false`: plaintext, for a primary run with `--no-tls`.
   */
  tls?: SecondaryTlsOptions | false;
  /** This node's wall clock, epoch ms (default Date.now; tests make it run ahead). */
  wallClock?: () => number;
  /** This machine's id (default: /etc/machine-id). */
  machineId?: () => Promise<string | undefined>;
  /** Which tasks this node runs and how (the primary can only ask; the node decides). */
  tasks?: TasksOptions;
}

/** What a node lets its primary run (src/secondary/task-runner.ts). */
export interface TasksOptions {
  /**
   * Built-in kinds that change the machine this node runs (`os.update`, `node.reboot`, `shell`,
   * ...: MACHINE_KINDS). Default none: only the read-only kinds and the node's own kinds run.
   */
  allow?: readonly string[];
  /** Programs (names or absolute paths, matched exactly) the `shell` kind may run as argv[0]. Default none. */
  commands?: readonly string[];
  /** The git checkout of `code.revision` and `code.pull`. Default: the directory of picluster's package.json. */
  gitDir?: string;
  /** Tasks run at once; one more is refused with ERR_TASK_BUSY. Default 4. */
  maxConcurrent?: number;
  /** Output kept per stream of a task (its tail), bytes. Default and most: MAX_OUTPUT_BYTES (64 KiB). */
  maxOutputBytes?: number;
  /** Runs programs, reboots, powers off (tests inject a RecordingExecutor). Default: a RealExecutor. */
  executor?: Executor;
}

/** What a task handler gets besides its arguments. */
export interface TaskContext {
  readonly taskId: string;
  readonly key: string;
  /** Aborted when the task times out, is cancelled, or the agent stops: stop the work then. */
  readonly signal: AbortSignal;
  /** Output of the task: streamed to the primary as it comes, its tail kept in the result. */
  output(stream: ExecStream, text: string): void;
  /** The agent's logger; every line carries the task's id and kind. */
  readonly log: Logger;
}

/**
 * Runs one task of a kind: resolves with its result (JSON; `undefined` for none), or throws. A
 * TaskError keeps its code (ERR_TASK_ARGS for bad arguments); anything else is ERR_TASK_FAILED.
 */
export type TaskHandler = (args: Record<string, unknown>, context: TaskContext) => unknown;

/** A task the agent took (the `taskStarted` event). */
export interface TaskStarted {
  taskId: string;
  key: string;
  kind: string;
}

export type SecondaryState = 'idle' | 'connecting' | 'online' | 'backoff' | 'stopping' | 'stopped';

export interface SecondaryEvents {
  state: [state: SecondaryState];
  /** Authenticated and registered. */
  online: [info: { nodeId: string; primaryId: string; address: string }];
  /** The link went down (the agent reconnects by itself). */
  offline: [error: DisconnectionError];
  /** The primary refused this node's credentials. */
  authFailed: [error: PiclusterError];
  /** A one-way message the agent does not handle itself. */
  message: [message: Message, connection: Connection];
  /** The primary acknowledged samples up to `seq` as stored. */
  ack: [seq: number];
  /** A sample was taken and put in the outbox. */
  sample: [sample: VitalsPayload];
  /** A task was taken (its start is in the journal). */
  taskStarted: [task: TaskStarted];
  /** A task ended; its result is in the journal until the primary acknowledges it. */
  taskFinished: [result: TaskResultPayload];
}

/** Extends a secondary with custom behaviour: request handlers, message listeners, timers. */
export interface SecondaryPlugin {
  name: string;
  setup(secondary: Secondary): (() => void) | undefined;
}
