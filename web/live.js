// The dashboard's one live link. `Live` owns the single EventSource on /api/stream and feeds the
// ClusterModel: it loads a snapshot at start, after every reconnect and on `reset`, buffers
// stream messages while a snapshot is in flight (then replays them in order), and reports the
// link's state for the banner. EventSource retries network errors by itself (sending
// Last-Event-ID); an HTTP error closes it, so then we reopen with backoff. The stream's keepalives
// are comments a page cannot see, so after 30 s of silence /healthz is probed.

import { checkLogin, getJson } from './api.js';

const SILENCE_PROBE_MS = 30_000;
const PROBE_TIMEOUT_MS = 5_000;
const MAX_BACKOFF_MS = 15_000;

/**
 * Connects `model` to the primary. onStatus(state, since) with state 'connecting' | 'live' |
 * 'down'; `since` is when it entered that state (epoch ms).
 */
export class Live {
  #model;
  #onStatus;
  #es;
  #status = 'connecting';
  #snapshotting = false;
  #buffer = [];
  #needSnapshot = false;
  #lastMessageAt = Date.now();
  #backoffMs = 1000;
  #reopenTimer;
  #probing = false;
  #resnapshotTimer;

  constructor(model, onStatus) {
    this.#model = model;
    this.#onStatus = onStatus;
  }

  start() {
    this.#open();
    void this.snapshot();
    setInterval(() => this.#watch(), 5000);
    addEventListener('online', () => {
      if (this.#status !== 'live') this.#reopenSoon(0);
    });
  }

  get status() {
    return this.#status;
  }

  #setStatus(status) {
    if (status === this.#status) return;
    this.#status = status;
    this.#onStatus(status, Date.now());
  }

  #open() {
    clearTimeout(this.#reopenTimer);
    const es = new EventSource('/api/stream');
    this.#es = es;
    es.addEventListener('open', () => {
      if (es !== this.#es) return;
      this.#lastMessageAt = Date.now();
      this.#backoffMs = 1000;
      if (this.#needSnapshot) {
        this.#needSnapshot = false;
        void this.snapshot();
      }
      this.#setStatus('live');
    });
    for (const type of ['node', 'removed', 'vitals', 'event', 'task', 'task-output', 'alert', 'reset']) {
      es.addEventListener(type, (e) => {
        if (es !== this.#es) return;
        this.#lastMessageAt = Date.now();
        if (type === 'vitals') this.#model.vitalsArrivedAt = performance.now();
        if (type === 'reset') {
          void this.snapshot();
          return;
        }
        // Only node changes wait for the snapshot they must follow; the rest apply at once.
        if (this.#snapshotting && (type === 'node' || type === 'removed' || type === 'vitals'))
          this.#buffer.push([type, e.data]);
        else this.#dispatch(type, e.data);
      });
    }
    es.addEventListener('error', () => {
      if (es !== this.#es) return;
      this.#needSnapshot = true;
      this.#setStatus('down');
      if (es.readyState === EventSource.CLOSED) {
        // An HTTP error (401, 503, ...): EventSource gives up, so we retry ourselves.
        void checkLogin();
        this.#reopenSoon(this.#backoffMs);
        this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
      }
    });
  }

  #reopenSoon(delayMs) {
    this.#es?.close();
    clearTimeout(this.#reopenTimer);
    this.#reopenTimer = setTimeout(() => this.#open(), delayMs * (0.5 + Math.random() / 2));
  }

  #dispatch(type, data) {
    let payload;
    try {
      payload = JSON.parse(data);
    } catch {
      return; // not ours to crash on
    }
    if (type === 'node') this.#model.upsertNode(payload);
    else if (type === 'removed') this.#model.removeNode(payload?.id);
    else if (type === 'event') this.#model.addEvent(payload);
    else if (type === 'task') this.#model.addTask(payload);
    else if (type === 'task-output') this.#model.addTaskOutput(payload);
    else if (type === 'alert') this.#model.addAlert(payload);
    else if (type === 'vitals') {
      const unknown = this.#model.applyVitals(payload?.nodes);
      if (unknown.length > 0) this.#resnapshotSoon();
    }
  }

  /** Fetches the list again soon (at most every 3 s): a node this page does not know, or a failed load. */
  #resnapshotSoon() {
    if (this.#resnapshotTimer) return;
    this.#resnapshotTimer = setTimeout(() => {
      this.#resnapshotTimer = undefined;
      if (this.#status === 'live') void this.snapshot();
    }, 3000);
  }

  /** Loads /api/nodes; stream messages that arrive meanwhile are applied after it, in order. */
  async snapshot() {
    if (this.#snapshotting) return;
    this.#snapshotting = true;
    try {
      const { body, date } = await getJson('/api/nodes');
      // The Date header has 1 s resolution: correct the clock only when it is clearly off.
      const offset = Number.isFinite(date) ? date - Date.now() : 0;
      this.#model.clockOffset = Math.abs(offset) > 5000 ? offset : 0;
      this.#model.replaceAll(Array.isArray(body?.nodes) ? body.nodes : []);
    } catch (err) {
      // Retried at the next open, or in a few seconds if the stream stays up meanwhile.
      if (err?.status !== 401) {
        this.#needSnapshot = true;
        this.#resnapshotSoon();
      }
    } finally {
      this.#snapshotting = false;
      const buffered = this.#buffer;
      this.#buffer = [];
      for (const [type, data] of buffered) this.#dispatch(type, data);
    }
  }

  /** A silent stream may be a dead link nobody closed: ask /healthz. */
  async #watch() {
    if (this.#status !== 'live' || this.#probing) return;
    if (Date.now() - this.#lastMessageAt < SILENCE_PROBE_MS) return;
    this.#probing = true;
    try {
      const response = await fetch('/healthz', { cache: 'no-store', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      if (!response.ok) throw new Error(`healthz ${response.status}`);
      this.#lastMessageAt = Date.now();
    } catch {
      this.#needSnapshot = true;
      this.#setStatus('down');
      this.#reopenSoon(0);
    } finally {
      this.#probing = false;
    }
  }
}
