// The open alerts (pending and firing) the whole dashboard shows: the header's count, the badges
// on node rows and node pages, the alerts page's list. Loaded from /api/alerts with every snapshot
// of the nodes (at start and after each reconnect: what the stream missed), then kept by the
// stream's `alert` messages. Stream messages that arrive while a load is under way are applied
// after it, in order, so the list ends as the stream left it.

import { ApiError, getJson } from './api.js';

const OPEN = new Set(['pending', 'firing']);

export class OpenAlerts {
  /** id → alert (pending or firing). */
  #alerts = new Map();
  /** nodeId → its firing alerts, built when asked after a change. */
  #firingByNode;
  #listeners = new Set();
  #loading = false;
  #again = false;
  /** Stream messages that came during a load. */
  #buffer = [];
  /** false: the primary runs no alerts (404); null: not loaded yet. */
  available = null;
  /** Why the last load failed ('' when it did not). */
  error = '';

  constructor(model) {
    model.onAlert((alert) => {
      if (this.#loading) this.#buffer.push(alert);
      else this.#notify(this.#apply(alert));
    });
    model.subscribe((ids) => {
      if (ids === null) void this.load();
    });
  }

  /** fn(nodeIds: Set<string> | null): the open alerts of these nodes changed (null: of any). */
  subscribe(fn) {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Every open alert. */
  list() {
    return [...this.#alerts.values()];
  }

  /** How many alerts fire right now. */
  get firingCount() {
    let n = 0;
    for (const a of this.#alerts.values()) if (a.state === 'firing') n++;
    return n;
  }

  /** The firing alerts of one node (an empty array when none). */
  firingOn(nodeId) {
    if (!this.#firingByNode) {
      this.#firingByNode = new Map();
      for (const a of this.#alerts.values()) {
        if (a.state !== 'firing') continue;
        const list = this.#firingByNode.get(a.node) ?? [];
        list.push(a);
        this.#firingByNode.set(a.node, list);
      }
    }
    return this.#firingByNode.get(nodeId) ?? NONE;
  }

  /** Loads the open alerts again (a load asked for during one runs once it is done). */
  async load() {
    if (this.#loading) {
      this.#again = true;
      return;
    }
    this.#loading = true;
    try {
      const { body } = await getJson('/api/alerts');
      const list = Array.isArray(body?.alerts) ? body.alerts : [];
      this.#alerts = new Map(
        list
          .filter(isAlert)
          .filter((a) => OPEN.has(a.state))
          .map((a) => [a.id, a]),
      );
      this.available = true;
      this.error = '';
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        this.available = false;
        this.#alerts = new Map();
      } else {
        // Kept as they were; the next snapshot (a reconnect) loads them again.
        this.error = err.message;
      }
    } finally {
      this.#loading = false;
      const buffered = this.#buffer;
      this.#buffer = [];
      for (const alert of buffered) this.#apply(alert);
      this.#firingByNode = undefined;
      this.#notify(null);
    }
    if (this.#again) {
      this.#again = false;
      void this.load();
    }
  }

  /** Applies a stream message; returns the node ids whose open alerts changed. */
  #apply(alert) {
    if (!isAlert(alert)) return new Set();
    const known = this.#alerts.get(alert.id);
    if (OPEN.has(alert.state)) this.#alerts.set(alert.id, alert);
    else if (known) this.#alerts.delete(alert.id);
    else return new Set();
    this.#firingByNode = undefined;
    return new Set([alert.node, known?.node].filter((id) => typeof id === 'string'));
  }

  #notify(ids) {
    if (ids !== null && ids.size === 0) return;
    for (const fn of this.#listeners) fn(ids);
  }
}

const NONE = Object.freeze([]);

function isAlert(a) {
  return a !== null && typeof a === 'object' && typeof a.id === 'string' && typeof a.node === 'string';
}
