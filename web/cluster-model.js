// The dashboard's model of the cluster: every node (the /api/nodes snapshot plus what the stream
// says since), the primary's clock offset, and the fan-out of changes. Subscribers learn which
// node ids changed, so a page redraws only those. Named apart from the server's `Store` (SQLite,
// src/store/): this one lives in the browser and persists nothing. Tasks and alerts are not kept
// here: the stream's task rows, task output and alerts are only fanned out to those who keep them
// (the pages, OpenAlerts).

/** The newer of two vitals samples (by seq; resends from a node's outbox may arrive late). */
function newerVitals(a, b) {
  if (!a) return b ?? null;
  if (!b) return a;
  return b.seq >= a.seq ? b : a;
}

export class ClusterModel {
  /** id → node object as the API shapes it. */
  nodes = new Map();
  /** Primary clock minus browser clock, ms (only when they are clearly apart). */
  clockOffset = 0;
  loaded = false;
  /** performance.now() when the latest `vitals` message arrived (for the render measurements). */
  vitalsArrivedAt = 0;
  #listeners = new Set();
  #eventListeners = new Set();
  #taskListeners = new Set();
  #outputListeners = new Set();
  #alertListeners = new Set();

  /** fn(ids: Set<string> | null, kind: 'all' | 'node' | 'vitals'); null ids = everything. */
  subscribe(fn) {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** fn(entry) for each new events-log entry from the stream. */
  onEvent(fn) {
    this.#eventListeners.add(fn);
    return () => this.#eventListeners.delete(fn);
  }

  /** fn(task) for each task row the stream says changed (at most one per task a second). */
  onTask(fn) {
    this.#taskListeners.add(fn);
    return () => this.#taskListeners.delete(fn);
  }

  /** fn({taskId, nodeId, stdout, stderr}) for each batch of a running task's new output. */
  onTaskOutput(fn) {
    this.#outputListeners.add(fn);
    return () => this.#outputListeners.delete(fn);
  }

  /** fn(alert) for each alert the stream says changed (its state now; see OpenAlerts). */
  onAlert(fn) {
    this.#alertListeners.add(fn);
    return () => this.#alertListeners.delete(fn);
  }

  /** The primary's idea of now. */
  now() {
    return Date.now() + this.clockOffset;
  }

  #notify(ids, kind) {
    for (const fn of this.#listeners) fn(ids, kind);
  }

  replaceAll(list) {
    const next = new Map();
    for (const node of list) {
      const old = this.nodes.get(node.id);
      next.set(node.id, old ? { ...node, vitals: newerVitals(old.vitals, node.vitals) } : node);
    }
    this.nodes = next;
    this.loaded = true;
    this.#notify(null, 'all');
  }

  upsertNode(node) {
    if (!node || typeof node.id !== 'string') return;
    const old = this.nodes.get(node.id);
    this.nodes.set(node.id, old ? { ...node, vitals: newerVitals(old.vitals, node.vitals) } : node);
    this.#notify(new Set([node.id]), 'node');
  }

  /** A node the operator forgot: gone from every view (a full redraw: it is rare). */
  removeNode(id) {
    if (this.nodes.delete(id)) this.#notify(null, 'all');
  }

  /** Applies {id: sample}; returns the ids not known here (a snapshot will bring them). */
  applyVitals(samples) {
    const changed = new Set();
    const unknown = [];
    for (const [id, sample] of Object.entries(samples ?? {})) {
      const node = this.nodes.get(id);
      if (!node) {
        unknown.push(id);
        continue;
      }
      const vitals = newerVitals(node.vitals, sample);
      if (vitals === node.vitals) continue;
      node.vitals = vitals;
      if (typeof vitals.receivedAt === 'number' && vitals.receivedAt > node.lastSeen) node.lastSeen = vitals.receivedAt;
      changed.add(id);
    }
    if (changed.size > 0) this.#notify(changed, 'vitals');
    return unknown;
  }

  addEvent(entry) {
    for (const fn of this.#eventListeners) fn(entry);
  }

  addTask(task) {
    if (!task || typeof task.id !== 'string') return;
    for (const fn of this.#taskListeners) fn(task);
  }

  addTaskOutput(output) {
    if (!output || typeof output.taskId !== 'string') return;
    for (const fn of this.#outputListeners) fn(output);
  }

  addAlert(alert) {
    if (!alert || typeof alert.id !== 'string') return;
    for (const fn of this.#alertListeners) fn(alert);
  }
}
