// The live feed behind GET /api/stream: one hub per primary turns node changes, stored vitals and
// the events log into numbered server-sent-event messages, kept in a bounded ring so a client
// that reconnects with Last-Event-ID gets what it missed (or `reset` when that is gone).
// Vitals are coalesced: one `vitals` message per interval with the latest sample of each node
// that reported, never one message per sample. With nobody following for `idleMs` the hub goes
// dormant and builds nothing (at 10,000 nodes that is half a megabyte of JSON a second for no
// one); a client resuming from before that gets `reset`. Ids start at the start time × 1000, so
// ids of an earlier run of the primary are always older than this run's (they get `reset` too).

import type { Primary } from '../primary/primary.js';
import type { NodeView } from '../primary/registry.js';
import type { VitalsPayload } from '../protocol/messages.js';

export interface StreamMessage {
  id: number;
  event: 'node' | 'vitals' | 'event' | 'reset';
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
}

type Listener = (message: StreamMessage) => void;

export class StreamHub {
  readonly #primary: Primary;
  readonly #coalesceMs: number;
  readonly #bufferSize: number;
  readonly #bufferBytes: number;
  readonly #idleMs: number;
  #dormant = true;
  #idleSince = Date.now();
  #bufferedBytes = 0;
  readonly #buffer: StreamMessage[] = [];
  readonly #listeners = new Set<Listener>();
  #nextId = Date.now() * 1000;
  #pendingVitals = new Map<string, VitalsPayload & { receivedAt: number }>();
  #lastEventId = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(primary: Primary, options: StreamHubOptions = {}) {
    this.#primary = primary;
    this.#coalesceMs = options.coalesceMs ?? 1000;
    this.#bufferSize = options.bufferSize ?? 2000;
    this.#bufferBytes = options.bufferBytes ?? 8 * 1024 * 1024;
    this.#idleMs = options.idleMs ?? 60_000;
  }

  /** Follows the primary (call once its store is open). */
  start(): void {
    this.#primary.on('node', this.#onNode);
    this.#primary.on('vitals', this.#onVitals);
    this.#timer = setInterval(this.#flush, this.#coalesceMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#primary.off('node', this.#onNode);
    this.#primary.off('vitals', this.#onVitals);
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
      this.#lastEventId = this.#primary.store.lastEventId();
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
      if (this.#listeners.size === 0) this.#idleSince = Date.now();
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
    // The messages not built make a gap: no resume may cross it.
    this.#nextId++;
  }

  #onNode = (node: NodeView): void => {
    if (!this.#dormant) this.#publish('node', node);
  };

  #onVitals = (nodeId: string, sample: VitalsPayload & { receivedAt?: number }): void => {
    if (this.#dormant) return;
    this.#pendingVitals.set(nodeId, { ...sample, receivedAt: sample.receivedAt ?? Date.now() });
  };

  #flush = (): void => {
    if (!this.#primary.ready) return; // stopping: the store may be closed already
    if (this.#dormant) return;
    if (this.#listeners.size === 0 && Date.now() - this.#idleSince >= this.#idleMs) {
      this.#sleep();
      return;
    }
    if (this.#pendingVitals.size > 0) {
      const nodes = Object.fromEntries(this.#pendingVitals);
      this.#pendingVitals = new Map();
      this.#publish('vitals', { nodes });
    }
    // The events log is read back from the store, so the feed carries exactly what was stored.
    const events = this.#primary.store.eventsAfter(this.#lastEventId, 500);
    for (const event of events) {
      this.#lastEventId = event.id;
      this.#publish('event', event);
    }
  };

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
