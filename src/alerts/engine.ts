// The alert engine: fed by the primary's events (a node changed, a sample was stored, a task
// ended), it keeps one alert per rule, node and subject through its life, pending → firing →
// resolved, and says when to notify: when an alert fires, again every repeat interval while it
// fires, and once when it resolves. A rule that keeps firing and resolving is held firing (flap
// damping). Durations run on the monotonic clock; the wall clock only stamps what is stored and
// shown. A timer ticks only over the open alerts: nothing polls the history.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { NodeView } from '../protocol/node-view.js';
import type { AlertRow, ReceivedVitals, TaskRow } from '../store/store-api.js';
import {
  detailOf,
  inScope,
  limitsFor,
  type Observation,
  observeNode,
  observeTask,
  observeVitals,
  type Rule,
} from './rules.js';

export type NotificationEvent = 'firing' | 'repeat' | 'resolved';

export interface Notification {
  event: NotificationEvent;
  alert: AlertRow;
  rule: Rule;
}

export interface EngineClock {
  /** Monotonic ms (durations). */
  monoMs(): number;
  /** Epoch ms (timestamps stored or shown). */
  wallMs(): number;
}

export const systemClock: EngineClock = { monoMs: () => performance.now(), wallMs: () => Date.now() };

export interface EngineOptions {
  clock?: EngineClock;
  /** A rule that fires this many times within `flapWindowMs` is flapping. Default 3. */
  flapCount?: number;
  /** Default 1 h. A flapping alert resolves once its condition stayed clear this long. */
  flapWindowMs?: number;
  /** Whether a silence holds this alert's notifications now. */
  silenced?: (alert: AlertRow) => boolean;
  /** An alert that fired changed (stored by the caller). */
  save?: (alert: AlertRow) => void;
}

export interface EngineEvents {
  /** An alert changed state or value (pending ones too): for the live stream. */
  change: [alert: AlertRow];
  /** Something to tell the channels. */
  notify: [notification: Notification];
}

interface Open {
  row: AlertRow;
  rule: Rule;
  /** Monotonic: when its condition was first seen (pending), when it was last notified. */
  startedMono: number;
  lastNotifiedMono: number;
  /** How long its condition must hold before it fires (the rule's, or a node's override). */
  forMs: number;
  /** Monotonic: since when a flapping alert's condition has stayed clear. */
  clearSinceMono: number | undefined;
}

const keyOf = (rule: string, node: string, subject: string) => `${rule}\u0000${node}\u0000${subject}`;

/** What a rule watches: an alert of the rule before a change to any of these is not one of it after. */
const identityOf = (r: Rule) => JSON.stringify([r.kind, r.vital, r.op, r.mount, r.flag, r.when, r.task, r.scopeText]);

export class AlertEngine extends EventEmitter<EngineEvents> {
  readonly #clock: EngineClock;
  readonly #flapCount: number;
  readonly #flapWindowMs: number;
  readonly #silenced: (alert: AlertRow) => boolean;
  readonly #save: (alert: AlertRow) => void;
  #rules = new Map<string, Rule>();
  readonly #open = new Map<string, Open>();
  /** The keys of each node's open alerts (a sample looks at its node's only). */
  readonly #byNode = new Map<string, Set<string>>();
  /** Monotonic times each rule/node/subject fired, within the flap window. */
  readonly #fires = new Map<string, number[]>();

  constructor(options: EngineOptions = {}) {
    super();
    this.#clock = options.clock ?? systemClock;
    this.#flapCount = options.flapCount ?? 3;
    this.#flapWindowMs = options.flapWindowMs ?? 3_600_000;
    this.#silenced = options.silenced ?? (() => false);
    this.#save = options.save ?? (() => undefined);
  }

  get rules(): Rule[] {
    return [...this.#rules.values()];
  }

  /**
   * Replaces the rules. Open alerts of a rule that is gone, disabled, or now watches something
   * else (another vital, mount, flag, scope) resolve, said where they were told.
   */
  setRules(rules: readonly Rule[]): void {
    this.#rules = new Map(rules.filter((r) => r.enabled).map((r) => [r.name, r]));
    for (const [key, open] of this.#open) {
      const rule = this.#rules.get(open.rule.name);
      if (!rule) this.#end(key, open, 'rule removed', true);
      else if (identityOf(rule) !== identityOf(open.rule)) this.#end(key, open, 'rule changed', true);
      else open.rule = rule;
    }
  }

  /**
   * Takes up the alerts that were firing when the primary stopped: still firing, not notified
   * again as new; the next repeat falls due as it would have (from the stored last notification).
   */
  load(rows: readonly AlertRow[]): void {
    const mono = this.#clock.monoMs();
    const wall = this.#clock.wallMs();
    for (const row of rows) {
      const rule = this.#rules.get(row.rule);
      const key = keyOf(row.rule, row.node, row.subject);
      if (!rule || row.state !== 'firing' || this.#open.has(key)) {
        // Its rule is gone (or it never fired): closed, quietly.
        this.#save({
          ...row,
          state: 'resolved',
          since: wall,
          resolvedAt: wall,
          detail: `${row.detail} (rule removed)`,
        });
        continue;
      }
      // Wall time is all a restart leaves; a clock step is clamped to [0, repeat].
      const ago = Math.min(Math.max(0, wall - (row.lastNotifiedAt ?? row.firedAt ?? wall)), rule.repeatMs);
      const open = { row: { ...row }, rule, startedMono: mono, lastNotifiedMono: mono - ago, forMs: 0 };
      this.#put(key, { ...open, clearSinceMono: undefined });
    }
  }

  /** Open alerts (pending and firing), newest first. */
  open(): AlertRow[] {
    return [...this.#open.values()].map((o) => ({ ...o.row })).sort((a, b) => b.since - a.since);
  }

  node(node: NodeView): void {
    if (node.state === 'left' || node.state === 'denied') {
      // It said goodbye (or was refused): nothing of it is watched any more.
      for (const [key, open] of this.#openOf(node.id)) this.#end(key, open, `node ${node.state}`, true);
      return;
    }
    if (node.state === 'lost') {
      // No sample will confirm a condition seen just before: pending ones of its vitals go.
      for (const [key, open] of this.#openOf(node.id)) {
        if (open.row.state === 'pending' && open.rule.kind !== 'offline') this.#drop(key, open);
      }
    }
    this.#leaveScope(node);
    for (const rule of this.#rules.values()) {
      if (rule.kind !== 'offline' && rule.kind !== 'clock-skew') continue;
      if (!inScope(rule, node)) continue;
      this.#observe(rule, node, observeNode(rule, node));
    }
  }

  vitals(node: NodeView, vitals: ReceivedVitals): void {
    this.#leaveScope(node);
    for (const rule of this.#rules.values()) {
      if (!inScope(rule, node)) continue;
      if (rule.kind === 'vital' || rule.kind === 'throttle') {
        const seen = observeVitals(rule, node, vitals);
        // A mount no longer there, a boot that is over: their alerts end (before a new one begins).
        if (seen.length > 0 && this.#byNode.has(node.id)) this.#endUnseen(rule, node, seen);
        this.#observe(rule, node, seen);
      }
      // Each sample measures the node's clock again (its `sentAt`).
      else if (rule.kind === 'clock-skew') this.#observe(rule, node, observeNode(rule, node));
    }
  }

  task(node: NodeView, task: TaskRow): void {
    for (const rule of this.#rules.values()) {
      if (rule.kind !== 'task-failed' || !inScope(rule, node)) continue;
      this.#observe(rule, node, observeTask(rule, task));
    }
  }

  /** A node was forgotten: its open alerts end (resolved, said if they were notified). */
  removed(nodeId: string): void {
    for (const [key, open] of this.#openOf(nodeId)) this.#end(key, open, 'node forgotten', true);
  }

  #openOf(nodeId: string): Array<[string, Open]> {
    const keys = this.#byNode.get(nodeId);
    if (!keys) return [];
    return [...keys].flatMap((key) => {
      const open = this.#open.get(key);
      return open ? [[key, open] as [string, Open]] : [];
    });
  }

  #put(key: string, open: Open): void {
    this.#open.set(key, open);
    let keys = this.#byNode.get(open.row.node);
    if (!keys) {
      keys = new Set();
      this.#byNode.set(open.row.node, keys);
    }
    keys.add(key);
  }

  #take(key: string, open: Open): void {
    this.#open.delete(key);
    const keys = this.#byNode.get(open.row.node);
    keys?.delete(key);
    if (keys?.size === 0) this.#byNode.delete(open.row.node);
  }

  /** Open alerts of rules that no longer watch this node (its labels or the rule's scope changed). */
  #leaveScope(node: NodeView): void {
    const keys = this.#byNode.get(node.id);
    if (!keys) return;
    // Deleting the current key while iterating a Set is safe.
    for (const key of keys) {
      const open = this.#open.get(key);
      if (open && !inScope(open.rule, node)) this.#end(key, open, 'no longer watched on this node', true);
    }
  }

  #endUnseen(rule: Rule, node: NodeView, seen: readonly Observation[]): void {
    for (const [key, open] of this.#openOf(node.id)) {
      if (open.rule.name !== rule.name || seen.some((o) => o.subject === open.row.subject)) continue;
      const why = rule.kind === 'throttle' ? 'the node booted again' : `${open.row.subject || 'it'} is gone`;
      this.#end(key, open, why, true);
    }
  }

  /** Pending alerts whose `for` elapsed fire; firing ones repeat; flapping ones that stayed clear resolve. */
  tick(): void {
    const now = this.#clock.monoMs();
    for (const [key, open] of this.#open) {
      const { row, rule } = open;
      if (row.state === 'pending') {
        if (now - open.startedMono >= open.forMs) this.#fire(key, open);
        continue;
      }
      if (open.clearSinceMono !== undefined && now - open.clearSinceMono >= this.#flapWindowMs) {
        this.#end(key, open, 'stayed clear', true);
        continue;
      }
      const neverTold = row.notified === 0 && row.suppressed > 0;
      if (neverTold && !this.#silenced(row)) {
        // Held back by a silence that has ended: say it now rather than at the next repeat.
        this.#notify(open, 'firing');
      } else if (rule.repeatMs > 0 && now - open.lastNotifiedMono >= rule.repeatMs) {
        this.#notify(open, 'repeat');
      }
    }
  }

  #observe(rule: Rule, node: NodeView, observations: Observation[]): void {
    for (const o of observations) {
      // The common case, a node with nothing open and nothing wrong: no key, no lookup.
      if (o.verdict !== 'bad' && !this.#byNode.has(node.id)) continue;
      const key = keyOf(rule.name, node.id, o.subject);
      const open = this.#open.get(key);
      if (o.verdict === 'bad') {
        if (!open) this.#begin(key, rule, node, o);
        else {
          open.clearSinceMono = undefined;
          this.#update(open, o);
        }
      } else if (o.verdict === 'clear' && open) {
        if (open.row.state === 'pending') this.#drop(key, open);
        else if (open.row.flapping) {
          open.clearSinceMono ??= this.#clock.monoMs();
          this.#update(open, o);
        } else this.#end(key, open, detailOf(rule, o), true);
      } else if (open) this.#update(open, o);
    }
  }

  #begin(key: string, rule: Rule, node: NodeView, o: Observation): void {
    const wall = this.#clock.wallMs();
    const limits = limitsFor(rule, node);
    const threshold = rule.kind === 'vital' || rule.kind === 'clock-skew' ? limits.threshold : null;
    const row: AlertRow = {
      id: randomUUID(),
      rule: rule.name,
      kind: rule.kind,
      severity: rule.severity,
      node: node.id,
      nodeName: node.name,
      subject: o.subject,
      state: 'pending',
      since: wall,
      startedAt: wall,
      firedAt: null,
      resolvedAt: null,
      value: o.value,
      threshold,
      detail: detailOf(rule, o),
      flapping: false,
      silenced: false,
      notified: 0,
      suppressed: 0,
      lastNotifiedAt: null,
    };
    const mono = this.#clock.monoMs();
    const open: Open = {
      row,
      rule,
      startedMono: mono,
      lastNotifiedMono: mono,
      forMs: limits.forMs,
      clearSinceMono: undefined,
    };
    this.#put(key, open);
    if (open.forMs <= 0) this.#fire(key, open);
    else this.emit('change', { ...row });
  }

  #update(open: Open, o: Observation): void {
    if (open.row.value === o.value && (o.detail === undefined || open.row.detail === o.detail)) return;
    open.row.value = o.value;
    open.row.detail = detailOf(open.rule, o);
    this.emit('change', { ...open.row });
  }

  #fire(key: string, open: Open): void {
    const now = this.#clock.monoMs();
    const fires = (this.#fires.get(key) ?? []).filter((t) => now - t < this.#flapWindowMs);
    fires.push(now);
    this.#fires.set(key, fires);
    const row = open.row;
    row.state = 'firing';
    row.since = this.#clock.wallMs();
    row.firedAt = row.since;
    row.flapping = fires.length >= this.#flapCount;
    this.#notify(open, 'firing');
  }

  #notify(open: Open, event: NotificationEvent): void {
    const row = open.row;
    open.lastNotifiedMono = this.#clock.monoMs();
    row.silenced = this.#silenced(row);
    if (row.silenced) row.suppressed++;
    else {
      row.notified++;
      row.lastNotifiedAt = this.#clock.wallMs();
    }
    this.#save({ ...row });
    this.emit('change', { ...row });
    if (!row.silenced) this.emit('notify', { event, alert: { ...row }, rule: open.rule });
  }

  /** A pending alert whose condition cleared before its `for`: never an alert, nothing kept. */
  #drop(key: string, open: Open): void {
    this.#take(key, open);
    this.emit('change', { ...open.row, state: 'resolved', since: this.#clock.wallMs() });
  }

  /** A firing alert resolves; a resolved message goes out when the firing one did (`tell`). */
  #end(key: string, open: Open, detail: string, tell: boolean): void {
    this.#take(key, open);
    const row = open.row;
    if (row.state === 'pending') {
      this.emit('change', { ...row, state: 'resolved', since: this.#clock.wallMs() });
      return;
    }
    row.state = 'resolved';
    row.since = this.#clock.wallMs();
    row.resolvedAt = row.since;
    row.detail = detail;
    this.#save({ ...row });
    this.emit('change', { ...row });
    // Told even under a silence: whoever got the firing message learns that it is over.
    if (tell && row.notified > 0) this.emit('notify', { event: 'resolved', alert: { ...row }, rule: open.rule });
  }
}
