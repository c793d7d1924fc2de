// The live feed behind GET /api/stream: one hub per primary turns node changes, stored vitals and
// the events log into numbered server-sent-event messages, kept in a bounded ring so a client
// that reconnects with Last-Event-ID gets what it missed (or `reset` when that is gone).
// Vitals are coalesced: one `vitals` message per interval with the latest sample of each node
// that reported, never one message per sample. With nobody following for `idleMs` the hub goes
// dormant and builds nothing (at 10,000 nodes that is half a megabyte of JSON a second for no
// one); a client resuming from before that gets `reset`. Ids start at the start time × 1000, so
// ids of an earlier run of the primary are always older than this run's (they get `reset` too).

import { type Logger, silentLogger } from '../common/logger.js';
import type { ClusterView } from '../primary/cluster-view.js';
import type { NodeView } from '../protocol/node-view.js';
import type { TaskOutputPayload } from '../protocol/tasks.js';
import type { AlertRow, ReceivedVitals, TaskRow } from '../store/store-api.js';

export interface StreamMessage {
  id: number;
  event: 'node' | 'removed' | 'vitals' | 'event' | 'task' | 'task-output' | 'alert' | 'reset';
  data: string;
}

export interface StreamHubOptions {
  /** How often coalesced vitals (and new log events) go out, ms. Default 1000. */
  coalesceMs?: number;
  /** Messages kept for clients that reconnect. Default 2000. */
  bufferSize?: number;
  /** Bytes kept for clients that reconnect, at most. Default 8 MiB. */
  bufferBytes?: number;
  /** With no client for this long, stop building messages until one comes, ms. Default 60000. */
  idleMs?: number;
  logger?: Logger;
}

type Listener = (message: StreamMessage) => void;

/** Output of one task kept per tick of the stream, characters per stream. */
const MAX_OUTPUT_CHARS = 64 * 1024;

export class StreamHub {
  readonly #cluster: ClusterView;
  readonly #log: Logger;
  readonly #coalesceMs: number;
  readonly #bufferSize: number;
  readonly #bufferBytes: number;
  readonly #idleMs: number;
  #dormant = true;
  #idleSince = performance.now();
  #bufferedBytes = 0;
  readonly #buffer: StreamMessage[] = [];
  readonly #listeners = new Set<Listener>();
  #nextId = Date.now() * 1000;
  #pendingVitals = new Map<string, ReceivedVitals>();
  /** Tasks changed and output since the last tick: one message per task per tick, however busy. */
  #pendingTasks = new Map<string, TaskRow>();
  #pendingOutput = new Map<string, { taskId: string; nodeId: string; stdout: string; stderr: string }>();
  /** Alerts changed since the last tick: each as it is now. */
  #pendingAlerts = new Map<string, AlertRow>();
  /** The newest event of the log already published; undefined until read after waking. */
  #lastEventId: number | undefined;
  /** Counts wakes: a read of the log's newest id that comes back after another wake is stale. */
  #wakes = 0;
  #reading = false;
  #flushing = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(cluster: ClusterView, options: StreamHubOptions = {}) {
    this.#cluster = cluster;
    this.#log = options.logger ?? silentLogger;
    this.#coalesceMs = options.coalesceMs ?? 1000;
    this.#bufferSize = options.bufferSize ?? 2000;
    this.#bufferBytes = options.bufferBytes ?? 8 * 1024 * 1024;
    this.#idleMs = options.idleMs ?? 60_000;
  }

  /** Follows the primary (call once its store is open). */
  start(): void {
    this.#cluster.on('node', this.#onNode);
    this.#cluster.on('vitals', this.#onVitals);
    this.#cluster.on('removed', this.#onRemoved);
    this.#cluster.on('task', this.#onTask);
    this.#cluster.on('task-output', this.#onTaskOutput);
    // Through the cluster, not its alert service: an HA primary's service is its term's.
    this.#cluster.on('alert', this.#onAlert);
    this.#timer = setInterval(this.#tick, this.#coalesceMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#cluster.off('node', this.#onNode);
    this.#cluster.off('vitals', this.#onVitals);
    this.#cluster.off('removed', this.#onRemoved);
    this.#cluster.off('task', this.#onTask);
    this.#cluster.off('task-output', this.#onTaskOutput);
    this.#cluster.off('alert', this.#onAlert);
    this.#listeners.clear();
  }

  get clients(): number {
    return this.#listeners.size;
  }

  /**
   * Adds a client. With `lastEventId` it first gets every buffered message after it, or one
   * `reset` when some of those are no longer buffered. Returns the function that removes it.
   */
  subscribe(listener: Listener, lastEventId?: number): () => void {
    if (this.#dormant) {
      // Nothing was built while dormant, and the ring is empty: a resume from before gets `reset`.
      this.#dormant = false;
      this.#wakes++;
      this.#lastEventId = undefined;
      this.#readLastEventId();
    }
    if (lastEventId !== undefined && lastEventId >= this.#nextId) {
      // An id this hub never gave: the primary restarted since. Start over.
      listener({ id: this.#nextId - 1, event: 'reset', data: '{}' });
    } else if (lastEventId !== undefined && lastEventId < this.#nextId - 1) {
      const oldest = this.#buffer[0]?.id ?? this.#nextId;
      if (lastEventId + 1 < oldest) listener({ id: this.#nextId - 1, event: 'reset', data: '{}' });
      else for (const m of this.#buffer) if (m.id > lastEventId) listener(m);
    }
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#idleSince = performance.now();
    };
  }

  /** True while nobody follows the stream and nothing is built. */
  get dormant(): boolean {
    return this.#dormant;
  }

  #sleep(): void {
    this.#dormant = true;
    this.#buffer.length = 0;
    this.#bufferedBytes = 0;
    this.#pendingVitals.clear();
    this.#pendingTasks.clear();
    this.#pendingOutput.clear();
    this.#pendingAlerts.clear();
    // The messages not built make a gap: no resume may cross it.
    this.#nextId++;
  }

  #onNode = (node: NodeView): void => {
    if (!this.#dormant) this.#publish('node', node);
  };

  /** A forgotten node: `{id}`, for the pages to drop it. */
  #onRemoved = (id: string): void => {
    if (!this.#dormant) this.#publish('removed', { id });
  };

  #onVitals = (nodeId: string, vitals: ReceivedVitals): void => {
    if (!this.#dormant) this.#pendingVitals.set(nodeId, vitals);
  };

  #onAlert = (alert: AlertRow): void => {
    if (!this.#dormant) this.#pendingAlerts.set(alert.id, alert);
  };

  #onTask = (task: TaskRow): void => {
    if (!this.#dormant) this.#pendingTasks.set(task.id, task);
  };

  #onTaskOutput = (output: TaskOutputPayload & { nodeId: string }): void => {
    if (this.#dormant) return;
    const pending = this.#pendingOutput.get(output.taskId) ?? {
      taskId: output.taskId,
      nodeId: output.nodeId,
      stdout: '',
      stderr: '',
    };
    // Bounded per tick as the node bounds it: the tail of each stream.
    pending[output.stream] = (pending[output.stream] + output.data).slice(-MAX_OUTPUT_CHARS);
    this.#pendingOutput.set(output.taskId, pending);
  };

  /** The live log starts after the newest event stored when the hub wakes. */
  #readLastEventId(): void {
    if (this.#reading) return;
    this.#reading = true;
    const wake = this.#wakes;
    // Through a promise: a synchronous throw (a standby's history) must end `#reading` too.
    Promise.resolve()
      .then(() => this.#cluster.history.lastEventId())
      .then(
        (id) => {
          this.#reading = false;
          if (wake === this.#wakes) this.#lastEventId = id;
          else this.#readLastEventId();
        },
        (err: unknown) => {
          // Read again at the next tick; the vitals and node messages go on meanwhile.
          this.#reading = false;
          this.#log.warn({ err }, 'cannot read the events log for the live stream; retrying');
        },
      );
  }

  #tick = (): void => {
    if (this.#flushing) return; // the events log is still being read
    this.#flushing = true;
    this.#flush().finally(() => {
      this.#flushing = false;
    });
  };

  async #flush(): Promise<void> {
    if (!this.#cluster.ready) return; // stopping: the store may be closed already
    if (this.#dormant) return;
    if (this.#listeners.size === 0 && performance.now() - this.#idleSince >= this.#idleMs) {
      this.#sleep();
      return;
    }
    for (const output of this.#pendingOutput.values()) this.#publish('task-output', output);
    this.#pendingOutput.clear();
    for (const task of this.#pendingTasks.values()) this.#publish('task', task);
    this.#pendingTasks.clear();
    for (const alert of this.#pendingAlerts.values()) this.#publish('alert', alert);
    this.#pendingAlerts.clear();
    if (this.#pendingVitals.size > 0) {
      const nodes = Object.fromEntries(this.#pendingVitals);
      this.#pendingVitals = new Map();
      this.#publish('vitals', { nodes });
    }
    // The events log is read back from the store, so the feed carries exactly what was stored.
    const after = this.#lastEventId;
    if (after === undefined) {
      this.#readLastEventId();
      return;
    }
    let events: Awaited<ReturnType<ClusterView['history']['eventsAfter']>>;
    try {
      events = await this.#cluster.history.eventsAfter(after, 500);
    } catch (err) {
      this.#log.warn({ err }, 'cannot read the events log for the live stream; retrying at the next tick');
      return;
    }
    // Slept (and maybe woke again) while reading: these belong to a log position no longer followed.
    if (this.#dormant || this.#lastEventId !== after) return;
    for (const event of events) {
      this.#lastEventId = event.id;
      this.#publish('event', event);
    }
  }

  #publish(event: StreamMessage['event'], payload: unknown): void {
    const message: StreamMessage = { id: this.#nextId++, event, data: JSON.stringify(payload) };
    this.#buffer.push(message);
    this.#bufferedBytes += message.data.length;
    // Bounded by count and by bytes: at 10,000 nodes one vitals message is ~0.5 MB, and 2,000 of
    // them held ~1 GB with no client connected (found by the scale bench).
    while (
      this.#buffer.length > 1 &&
      (this.#buffer.length > this.#bufferSize || this.#bufferedBytes > this.#bufferBytes)
    ) {
      this.#bufferedBytes -= (this.#buffer.shift() as StreamMessage).data.length;
    }
    for (const listener of this.#listeners) listener(message);
  }
}
