// The primary's alerts, put together: the engine fed by the primary's events, the rules (shipped
// defaults, the config file's, and those made through the API, stored), the silences, and one
// delivery queue per channel. What the web and the CLI read and change goes through AlertsApi.

import { EventEmitter } from 'node:events';
import { LogLimiter } from '../common/log-limiter.js';
import type { Logger } from '../common/logger.js';
import { RequestError } from '../protocol/errors.js';
import type { NodeView } from '../protocol/node-view.js';
import { FINAL_STATES } from '../protocol/tasks.js';
import { NodeWriter } from '../store/node-writer.js';
import type {
  AlertQuery,
  AlertRow,
  AlertState,
  ReceivedVitals,
  SilenceRow,
  Store,
  TaskRow,
} from '../store/store-api.js';
import { type AlertsConfig, DEFAULT_ALERTS } from './alerts-config.js';
import { ChannelQueue, type ChannelStats } from './channel-queue.js';
import { channelOf } from './channels.js';
import { AlertEngine, type EngineClock, type Notification, systemClock } from './engine.js';
import { messageOf, testMessage } from './message.js';
import { quietHoursOf } from './quiet-hours.js';
import { DEFAULT_RULES, type Rule, type RuleInput, ruleOf } from './rules.js';
import { silenceOf, silences } from './silences.js';

/** Bounds on what the API can add (each is kept in memory and looked at often). */
const MAX_API_RULES = 200;
const MAX_SILENCES = 1000;
const MIN_API_REPEAT_MS = 60_000;

/** What the alerts are fed from: the primary (its events and its nodes). */
export interface AlertSource {
  on(event: 'node', listener: (node: NodeView) => void): unknown;
  on(event: 'vitals', listener: (nodeId: string, vitals: ReceivedVitals) => void): unknown;
  on(event: 'task', listener: (task: TaskRow) => void): unknown;
  on(event: 'removed', listener: (nodeId: string) => void): unknown;
  off(event: 'node', listener: (node: NodeView) => void): unknown;
  off(event: 'vitals', listener: (nodeId: string, vitals: ReceivedVitals) => void): unknown;
  off(event: 'task', listener: (task: TaskRow) => void): unknown;
  off(event: 'removed', listener: (nodeId: string) => void): unknown;
  node(id: string): NodeView | undefined;
  nodeRecords(): Iterable<Readonly<NodeView>>;
}

/** A rule as the API shows it: as given, with where it comes from and its durations in ms. */
export type RuleView = RuleInput & { source: Rule['source']; forMs: number; repeatMs: number; enabled: boolean };

export interface ChannelView {
  name: string;
  type: string;
  target: string;
  queued: number;
  held: number;
  quietHours: { from: string; to: string; timeZone: string; allowCritical: boolean; now: boolean } | null;
  stats: ChannelStats;
}

/** What the web and the CLI read and change. */
export interface AlertsApi {
  on(event: 'alert', listener: (alert: AlertRow) => void): unknown;
  off(event: 'alert', listener: (alert: AlertRow) => void): unknown;
  /** Open alerts (pending and firing), or one state; resolved ones come from the history. */
  list(state?: AlertState): Promise<AlertRow[]>;
  history(query?: AlertQuery): Promise<AlertRow[]>;
  rules(): RuleView[];
  /** Creates or replaces a rule made through the API (stored); a config file's rule is refused. */
  putRule(input: unknown): Promise<RuleView>;
  removeRule(name: string): Promise<RuleView>;
  silences(): SilenceRow[];
  silence(input: unknown, author: string): Promise<SilenceRow>;
  unsilence(id: string): Promise<SilenceRow>;
  channels(): ChannelView[];
  /** Sends a test message on a channel now; rejects with the channel's error. */
  test(channel: string): Promise<void>;
  /** Firing alerts per rule (every rule listed, 0 included): /metrics. */
  firingByRule(): Map<string, number>;
}

export interface AlertServiceOptions {
  source: AlertSource;
  store: Store;
  log: Logger;
  config?: AlertsConfig;
  clock?: EngineClock;
  /** HA: the leader's fence, read before each notification goes out. */
  mayAct?: () => boolean;
}

export class AlertService extends EventEmitter<{ alert: [AlertRow] }> implements AlertsApi {
  readonly #source: AlertSource;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #config: AlertsConfig;
  readonly #clock: EngineClock;
  readonly #writer: NodeWriter;
  readonly #engine: AlertEngine;
  readonly #queues = new Map<string, ChannelQueue>();
  #configRules: Rule[] = [];
  #apiRules: Rule[] = [];
  #silences: SilenceRow[] = [];
  #timer: NodeJS.Timeout | undefined;
  /**
   * What the primary's events call. Each is guarded: they run inside the primary's emit (a
   * session's, a writer's), where a bug here must cost an alert, never the primary.
   */
  readonly #listeners = {
    node: this.#guarded('node', (node: NodeView) => this.#engine.node(node)),
    vitals: this.#guarded('vitals', (nodeId: string, vitals: ReceivedVitals) => {
      const node = this.#source.node(nodeId);
      if (node) this.#engine.vitals(node, vitals);
    }),
    task: this.#guarded('task', (task: TaskRow) => {
      if (!FINAL_STATES.has(task.state) || task.nodeId === null) return;
      const node = this.#source.node(task.nodeId);
      if (node) this.#engine.task(node, task);
    }),
    removed: this.#guarded('removed', (nodeId: string) => this.#engine.removed(nodeId)),
  };
  readonly #errorLog: LogLimiter;

  constructor(o: AlertServiceOptions) {
    super();
    this.#source = o.source;
    this.#store = o.store;
    this.#log = o.log;
    this.#config = o.config ?? DEFAULT_ALERTS;
    this.#clock = o.clock ?? systemClock;
    this.#errorLog = new LogLimiter(o.log);
    this.#writer = new NodeWriter(o.store, { logger: o.log, flushMs: 0 });
    this.#engine = new AlertEngine({
      clock: this.#clock,
      flapCount: this.#config.flapCount,
      flapWindowMs: this.#config.flapWindowMs,
      silenced: (alert) => this.#isSilenced(alert),
      save: (alert) => this.#writer.post([{ op: 'alert', alert }]),
    });
    this.#engine.on('change', (alert) => this.emit('alert', alert));
    this.#engine.on('notify', (n) => this.#deliver(n));
    for (const [name, c] of Object.entries(this.#config.channels)) {
      const quietHours = c.quietHours && quietHoursOf(c.quietHours, `alert channel "${name}"`);
      const queue = new ChannelQueue(channelOf(name, c), {
        clock: this.#clock,
        log: o.log,
        quietHours,
        retries: c.retries,
        retryMs: c.retryMs,
        maxQueue: c.maxQueue,
        mayAct: o.mayAct,
        timeoutMs: c.timeoutMs,
      });
      this.#queues.set(name, queue);
    }
  }

  /** Loads the stored rules, silences and open alerts, evaluates every node, and starts the ticks. */
  async start(): Promise<void> {
    const repeatMs = this.#config.repeatMs;
    const configured = this.#config.rules.map((r) => ruleOf(r, 'config', repeatMs));
    const named = new Set(configured.map((r) => r.name));
    const defaults = this.#config.defaults ? DEFAULT_RULES.filter((r) => !named.has(r.name)) : [];
    this.#configRules = [...defaults.map((r) => ruleOf(r, 'default', repeatMs)), ...configured];
    this.#apiRules = [];
    for (const stored of await this.#store.alertRules()) {
      try {
        const rule = ruleOf(stored, 'api', repeatMs);
        if (named.has(rule.name)) continue; // the config file's rule of that name wins
        const gone = rule.channels.filter((name) => !this.#queues.has(name));
        if (gone.length > 0) {
          // A channel renamed or removed in the config since: its messages go to the others.
          rule.channels = rule.channels.filter((name) => this.#queues.has(name));
          this.#log.warn(
            { rule: rule.name, channels: gone },
            `alert rule ${rule.name} names channels the config no longer has; it sends to ${rule.channels.length > 0 ? 'the rest' : 'every channel'}`,
          );
        }
        this.#apiRules.push(rule);
      } catch (err) {
        this.#log.warn(
          { rule: stored.name, err: (err as Error).message },
          'a stored alert rule no longer loads; skipped',
        );
      }
    }
    this.#engine.setRules(this.#allRules());
    this.#silences = await this.#store.listSilences(this.#clock.wallMs());
    this.#engine.load(await this.#store.openAlerts());
    for (const node of this.#source.nodeRecords()) this.#engine.node(node);
    this.#source.on('node', this.#listeners.node);
    this.#source.on('vitals', this.#listeners.vitals);
    this.#source.on('task', this.#listeners.task);
    this.#source.on('removed', this.#listeners.removed);
    this.#timer = setInterval(
      this.#guarded('tick', () => this.#tick()),
      this.#config.tickMs,
    );
    this.#timer.unref();
  }

  /** Stops listening and ticking (before the primary closes its sessions: that is no outage). */
  stop(): void {
    clearInterval(this.#timer);
    this.#source.off('node', this.#listeners.node);
    this.#source.off('vitals', this.#listeners.vitals);
    this.#source.off('task', this.#listeners.task);
    this.#source.off('removed', this.#listeners.removed);
  }

  /**
   * Gives the channels up to `drainMs` to send what waits (a message of the last second is not
   * lost to a clean stop), then closes them and flushes the alerts' writes (before the store closes).
   */
  async close(drainMs = 2000): Promise<void> {
    this.stop();
    await Promise.all([...this.#queues.values()].map((q) => q.drain(drainMs)));
    for (const queue of this.#queues.values()) queue.close();
    await this.#writer.close();
  }

  async list(state?: AlertState): Promise<AlertRow[]> {
    if (state === 'resolved') return this.#store.listAlerts({ state, limit: 100 });
    const open = this.#engine.open().map((a) => ({ ...a, silenced: this.#isSilenced(a) }));
    return state ? open.filter((a) => a.state === state) : open;
  }

  history(query: AlertQuery = {}): Promise<AlertRow[]> {
    return this.#store.listAlerts(query);
  }

  rules(): RuleView[] {
    return this.#allRules().map(viewOf);
  }

  async putRule(input: unknown): Promise<RuleView> {
    let rule: Rule;
    try {
      rule = ruleOf(input, 'api', this.#config.repeatMs);
    } catch (err) {
      throw new RequestError('ERR_BAD_REQUEST', (err as Error).message);
    }
    if (!this.#apiRules.some((r) => r.name === rule.name) && this.#apiRules.length >= MAX_API_RULES)
      throw new RequestError('ERR_CONFLICT', `${MAX_API_RULES} rules made through the API at most: remove one first`);
    if (this.#configRules.some((r) => r.name === rule.name && r.source === 'config'))
      throw new RequestError('ERR_CONFLICT', `rule "${rule.name}" is set in the config file: change it there`);
    for (const name of rule.channels) {
      if (!this.#queues.has(name)) throw new RequestError('ERR_BAD_REQUEST', `no alert channel "${name}"`);
    }
    if (rule.repeatMs > 0 && rule.repeatMs < MIN_API_REPEAT_MS) {
      throw new RequestError('ERR_BAD_REQUEST', `repeat is 1 min at least (or 0: never)`);
    }
    await this.#writer.write([
      { op: 'alert-rule', name: rule.name, rule: rule.input as unknown as Record<string, unknown> },
    ]);
    this.#apiRules = [...this.#apiRules.filter((r) => r.name !== rule.name), rule];
    this.#applyRules();
    this.#log.info({ rule: rule.name, kind: rule.kind }, 'alert rule saved');
    return viewOf(rule);
  }

  async removeRule(name: string): Promise<RuleView> {
    const rule = this.#apiRules.find((r) => r.name === name);
    if (!rule) {
      const fixed = this.#configRules.find((r) => r.name === name);
      if (fixed)
        throw new RequestError(
          'ERR_CONFLICT',
          `rule "${name}" is ${fixed.source === 'default' ? 'a default (turn defaults off with [alerts] defaults = false, or replace it by name)' : 'set in the config file'}`,
        );
      throw new RequestError('ERR_NOT_FOUND', `no alert rule "${name}"`);
    }
    await this.#writer.write([{ op: 'remove-alert-rule', name }]);
    this.#apiRules = this.#apiRules.filter((r) => r.name !== name);
    this.#applyRules();
    return viewOf(rule);
  }

  silences(): SilenceRow[] {
    const now = this.#clock.wallMs();
    return this.#silences.filter((s) => s.until > now);
  }

  async silence(input: unknown, author: string): Promise<SilenceRow> {
    if (this.silences().length >= MAX_SILENCES)
      throw new RequestError('ERR_CONFLICT', `${MAX_SILENCES} active silences at most: end one first`);
    const silence = silenceOf(input, author, this.#clock.wallMs());
    await this.#writer.write([{ op: 'silence', silence }]);
    this.#silences.push(silence);
    this.#log.info(
      {
        silence: silence.id,
        rule: silence.rule,
        node: silence.node,
        labels: silence.labels,
        until: new Date(silence.until).toISOString(),
        author: silence.author,
      },
      'silence added',
    );
    for (const alert of this.#engine.open()) this.emit('alert', { ...alert, silenced: this.#isSilenced(alert) });
    return silence;
  }

  async unsilence(id: string): Promise<SilenceRow> {
    const silence = this.#silences.find((s) => s.id === id);
    if (!silence) throw new RequestError('ERR_NOT_FOUND', `no silence ${id.slice(0, 64)}`);
    await this.#writer.write([{ op: 'remove-silence', id }]);
    this.#silences = this.#silences.filter((s) => s.id !== id);
    for (const alert of this.#engine.open()) this.emit('alert', { ...alert, silenced: this.#isSilenced(alert) });
    return silence;
  }

  channels(): ChannelView[] {
    return [...this.#queues.values()].map((q) => ({
      name: q.channel.name,
      type: q.channel.type,
      target: q.channel.target,
      queued: q.queued,
      held: q.held,
      quietHours: q.quietHours
        ? {
            from: q.quietHours.from,
            to: q.quietHours.to,
            timeZone: q.quietHours.timeZone,
            allowCritical: q.quietHours.allowCritical,
            now: q.quietNow,
          }
        : null,
      stats: { ...q.stats },
    }));
  }

  async test(channel: string): Promise<void> {
    const queue = this.#queues.get(channel);
    if (!queue)
      throw new RequestError(
        'ERR_NOT_FOUND',
        `no alert channel "${channel.slice(0, 64)}" (configured: ${[...this.#queues.keys()].join(', ') || 'none'})`,
      );
    await queue.sendNow(testMessage(channel, this.#clock.wallMs()));
  }

  firingByRule(): Map<string, number> {
    const counts = new Map(this.#engine.rules.map((r) => [r.name, 0]));
    for (const alert of this.#engine.open()) {
      if (alert.state === 'firing') counts.set(alert.rule, (counts.get(alert.rule) ?? 0) + 1);
    }
    return counts;
  }

  #allRules(): Rule[] {
    const api = new Set(this.#apiRules.map((r) => r.name));
    // A rule made through the API replaces a default of its name.
    return [...this.#configRules.filter((r) => !(r.source === 'default' && api.has(r.name))), ...this.#apiRules];
  }

  #applyRules(): void {
    this.#engine.setRules(this.#allRules());
    // A rule changed: every node is looked at again for it (vitals rules wait for the next sample).
    for (const node of this.#source.nodeRecords()) this.#engine.node(node);
  }

  #guarded<A extends unknown[]>(event: string, fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        this.#errorLog.log('error', `alerts-${event}`, { err, event }, 'the alerts could not take a primary event');
      }
    };
  }

  #isSilenced(alert: AlertRow): boolean {
    const now = this.#clock.wallMs();
    if (this.#silences.length === 0) return false;
    const labels = this.#source.node(alert.node)?.labels ?? {};
    return this.#silences.some((s) => silences(s, alert, labels, now));
  }

  #tick(): void {
    this.#engine.tick();
    for (const queue of this.#queues.values()) queue.tick();
    const now = this.#clock.wallMs();
    if (this.#silences.some((s) => s.until <= now)) this.#silences = this.#silences.filter((s) => s.until > now);
  }

  #deliver(n: Notification): void {
    const message = messageOf(n, this.#clock.wallMs());
    const names = n.rule.channels.length > 0 ? n.rule.channels : [...this.#queues.keys()];
    for (const name of names) this.#queues.get(name)?.push(message);
    // An alert with no channel to go to is still logged (and kept in the history).
    this.#log.info(
      { alert: n.alert.id, rule: n.alert.rule, node: n.alert.node, event: n.event, channels: names },
      message.title,
    );
  }
}

function viewOf(rule: Rule): RuleView {
  const view: RuleView = {
    ...rule.input,
    source: rule.source,
    forMs: rule.forMs,
    repeatMs: rule.repeatMs,
    enabled: rule.enabled,
  };
  // The values the rule runs with, defaults filled in.
  if (rule.kind === 'vital') Object.assign(view, { op: rule.op, threshold: rule.threshold, clear: rule.clear });
  if (rule.kind === 'clock-skew') Object.assign(view, { threshold: rule.threshold, clear: rule.clear });
  return view;
}

export async function openAlertService(o: AlertServiceOptions): Promise<AlertService> {
  const service = new AlertService(o);
  await service.start();
  return service;
}
