// Alert rules: what the config file (`[[alerts.rules]]`) and the API give, checked once into the
// engine's model, the rules that ship enabled, and what a rule sees in a node: one observation per
// subject (a disk rule watches each mount apart) saying whether its condition holds, has cleared,
// or sits between the two thresholds (hysteresis: no change).

import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { parseDuration } from '../common/duration.js';
import { ConfigError } from '../protocol/errors.js';
import { type LabelSelector, parseSelector, selects } from '../protocol/label-selector.js';
import type { NodeView } from '../protocol/node-view.js';
import { THROTTLE_FLAG_NAMES } from '../protocol/throttle.js';
import type { ReceivedVitals, TaskRow } from '../store/store-api.js';

export const RULE_KINDS = ['offline', 'vital', 'throttle', 'clock-skew', 'task-failed'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

/** The vitals a threshold rule can watch, and which way is bad by default. */
export const VITALS = {
  temperature: { unit: '°C', bad: 'above' },
  cpuPercent: { unit: '%', bad: 'above' },
  loadPerCore: { unit: '', bad: 'above' },
  ramAvailablePercent: { unit: '%', bad: 'below' },
  ramAvailableBytes: { unit: 'B', bad: 'below' },
  swapUsedPercent: { unit: '%', bad: 'above' },
  diskFreePercent: { unit: '%', bad: 'below' },
  diskFreeBytes: { unit: 'B', bad: 'below' },
} as const;
export type VitalName = keyof typeof VITALS;

export const RULE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const Duration = Type.Union([Type.Integer({ minimum: 0, maximum: 366 * 86_400_000 }), Type.String({ maxLength: 32 })]);
const Selector = Type.String({ maxLength: 600 });

const Override = Type.Object(
  {
    nodes: Selector,
    threshold: Type.Optional(Type.Number()),
    clear: Type.Optional(Type.Number()),
    for: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

/** A rule as written in the config file or posted to the API. */
export const RuleInput = Type.Object(
  {
    name: Type.String({ pattern: RULE_NAME_PATTERN }),
    kind: Type.Union(RULE_KINDS.map((k) => Type.Literal(k))),
    vital: Type.Optional(Type.Union(Object.keys(VITALS).map((k) => Type.Literal(k)))),
    op: Type.Optional(Type.Union([Type.Literal('above'), Type.Literal('below')])),
    threshold: Type.Optional(Type.Number()),
    clear: Type.Optional(Type.Number()),
    mount: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    flag: Type.Optional(Type.Union(THROTTLE_FLAG_NAMES.map((f) => Type.Literal(f)))),
    when: Type.Optional(Type.Union([Type.Literal('now'), Type.Literal('since-boot')])),
    task: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    for: Type.Optional(Duration),
    repeat: Type.Optional(Duration),
    severity: Type.Optional(Type.Union([Type.Literal('warning'), Type.Literal('critical')])),
    nodes: Type.Optional(Selector),
    overrides: Type.Optional(Type.Array(Override, { maxItems: 32 })),
    channels: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
    enabled: Type.Optional(Type.Boolean()),
    summary: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export interface RuleInput {
  name: string;
  kind: RuleKind;
  vital?: VitalName;
  op?: 'above' | 'below';
  threshold?: number;
  clear?: number;
  mount?: string;
  flag?: (typeof THROTTLE_FLAG_NAMES)[number];
  when?: 'now' | 'since-boot';
  task?: string;
  for?: number | string;
  repeat?: number | string;
  severity?: 'warning' | 'critical';
  nodes?: string;
  overrides?: Array<{ nodes: string; threshold?: number; clear?: number; for?: number | string }>;
  channels?: string[];
  enabled?: boolean;
  summary?: string;
}
let checkRuleInputCompiled: ReturnType<typeof Compile<typeof RuleInput>> | undefined;
/** Compiled at first use: a secondary loads this module with its config and never checks one. */
const checkRuleInput = () => (checkRuleInputCompiled ??= Compile(RuleInput));

/** Which nodes a rule watches: every node, those a label selector picks, or one node by id. */
export type Scope = { kind: 'all' } | { kind: 'node'; id: string } | { kind: 'labels'; selector: LabelSelector };

export interface Rule {
  name: string;
  kind: RuleKind;
  vital?: VitalName;
  /** Bad above or below the threshold. */
  op: 'above' | 'below';
  threshold: number;
  /** Cleared past this value (the far side of the threshold, or the threshold itself). */
  clear: number;
  mount?: string;
  flag?: string;
  when: 'now' | 'since-boot';
  task?: string;
  forMs: number;
  /** 0: never repeated. */
  repeatMs: number;
  severity: 'warning' | 'critical';
  scope: Scope;
  scopeText: string;
  overrides: Array<{ selector: LabelSelector; nodes: string; threshold?: number; clear?: number; forMs?: number }>;
  /** Channel names; empty: every channel. */
  channels: string[];
  enabled: boolean;
  summary?: string;
  /** Where it came from: `default`, `config`, or `api` (made in the dashboard; stored). */
  source: 'default' | 'config' | 'api';
  /** As given (what the API shows and the store keeps). */
  input: RuleInput;
}

export const DEFAULT_REPEAT_MS = 4 * 3_600_000;

/** The rules that ship enabled (`[alerts] defaults = false` turns them off; a rule of the same name replaces one). */
export const DEFAULT_RULES: readonly RuleInput[] = [
  { name: 'node-offline', kind: 'offline', for: '2m' },
  { name: 'cpu-hot', kind: 'vital', vital: 'temperature', op: 'above', threshold: 80, clear: 75, for: '5m' },
  { name: 'disk-low', kind: 'vital', vital: 'diskFreePercent', op: 'below', threshold: 10, for: '10m' },
  { name: 'under-voltage', kind: 'throttle', flag: 'under-voltage', when: 'now', severity: 'critical' },
  { name: 'throttled', kind: 'throttle', flag: 'throttled', when: 'now' },
];

function durationOf(value: number | string | undefined, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return value;
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new ConfigError(`${what}: "${value.slice(0, 40)}" is not a duration (like "90s", "5m", "4h")`);
  return ms;
}

function scopeOf(text: string, what: string): Scope {
  const t = text.trim();
  if (t === '' || t === 'all' || t === '*') return { kind: 'all' };
  if (t.startsWith('node:')) return { kind: 'node', id: t.slice(5) };
  try {
    return { kind: 'labels', selector: parseSelector(t) };
  } catch {
    throw new ConfigError(`${what}: nodes = "${t.slice(0, 80)}": expected all, node:ID, or key=value[,key=value...]`);
  }
}

/**
 * Checks a rule as given and builds the engine's model.
 * @throws ConfigError naming the rule and what is wrong with it
 */
export function ruleOf(given: unknown, source: Rule['source'], defaultRepeatMs = DEFAULT_REPEAT_MS): Rule {
  const named = (given as { name?: unknown } | null)?.name;
  const what = `alert rule ${typeof named === 'string' ? `"${named.slice(0, 64)}"` : '(no name)'}`;
  if (!checkRuleInput().Check(given)) {
    const issue = checkRuleInput().Errors(given)[0];
    throw new ConfigError(`${what}: ${issue?.instancePath || '/'} ${issue?.message ?? 'is not a rule'}`);
  }
  const input = given as RuleInput;
  const need = (field: keyof RuleInput) => {
    if (input[field] === undefined) throw new ConfigError(`${what}: a ${input.kind} rule needs "${field}"`);
  };
  let op: Rule['op'] = 'above';
  let threshold = 0;
  if (input.kind === 'vital') {
    need('vital');
    need('threshold');
    op = input.op ?? VITALS[input.vital as VitalName].bad;
    threshold = input.threshold as number;
  } else if (input.kind === 'throttle') {
    need('flag');
  } else if (input.kind === 'clock-skew') {
    threshold = input.threshold ?? 60_000;
  }
  // A clock-skew rule clears at half its limit by default (as the primary's own skew mark does).
  const clear = input.clear ?? (input.kind === 'clock-skew' ? threshold / 2 : threshold);
  if (op === 'above' ? clear > threshold : clear < threshold) {
    throw new ConfigError(`${what}: clear (${clear}) must be on the good side of threshold (${threshold})`);
  }
  const when = input.when ?? 'now';
  const rule: Rule = {
    name: input.name,
    kind: input.kind,
    vital: input.vital as VitalName | undefined,
    op,
    threshold,
    clear,
    mount: input.mount,
    flag: input.flag,
    when,
    task: input.task,
    forMs: durationOf(input.for, `${what} for`, input.kind === 'offline' ? 120_000 : 0),
    // "Since boot" holds until the next boot: said once, not every sample.
    // Said once: a boot's flags (they hold until the next boot), a failed task (until one succeeds).
    repeatMs: durationOf(
      input.repeat,
      `${what} repeat`,
      when === 'since-boot' || input.kind === 'task-failed' ? 0 : defaultRepeatMs,
    ),
    severity: input.severity ?? 'warning',
    scope: scopeOf(input.nodes ?? 'all', what),
    scopeText: input.nodes ?? 'all',
    overrides: (input.overrides ?? []).map((o) => {
      const scope = scopeOf(o.nodes, `${what} override`);
      if (scope.kind !== 'labels') throw new ConfigError(`${what}: an override's nodes is a label selector (k=v)`);
      const t = o.threshold ?? threshold;
      // Without its own clear, an override keeps the rule's gap between threshold and clear.
      const c = o.clear ?? t - (threshold - clear);
      if (op === 'above' ? c > t : c < t) {
        throw new ConfigError(`${what}: an override's clear (${c}) must be on the good side of its threshold (${t})`);
      }
      return {
        selector: scope.selector,
        nodes: o.nodes,
        threshold: t,
        clear: c,
        forMs: o.for === undefined ? undefined : durationOf(o.for, `${what} override for`, 0),
      };
    }),
    channels: input.channels ?? [],
    enabled: input.enabled ?? true,
    summary: input.summary,
    source,
    input,
  };
  return rule;
}

export function inScope(rule: Rule, node: Pick<NodeView, 'id' | 'labels'>): boolean {
  const { scope } = rule;
  if (scope.kind === 'all') return true;
  if (scope.kind === 'node') return scope.id === node.id;
  return selects(scope.selector, node.labels);
}

/** The rule's thresholds and `for` for one node: the first override whose selector picks it. */
export function limitsFor(
  rule: Rule,
  node: Pick<NodeView, 'labels'>,
): { threshold: number; clear: number; forMs: number } {
  const o = rule.overrides.find((x) => selects(x.selector, node.labels));
  return { threshold: o?.threshold ?? rule.threshold, clear: o?.clear ?? rule.clear, forMs: o?.forMs ?? rule.forMs };
}

/** `bad`: the condition holds; `clear`: it has cleared; `band`: between the two (no change). */
export type Verdict = 'bad' | 'clear' | 'band';

export interface Observation {
  /** What part of the node ("" for the node itself; a mount for disk rules; a task kind). */
  subject: string;
  verdict: Verdict;
  value: number | null;
  /** What is shown with the value; absent for vitals, which say it with detailOf() when shown. */
  detail?: string;
}

function compare(value: number, op: Rule['op'], limits: { threshold: number; clear: number }): Verdict {
  if (op === 'above') return value >= limits.threshold ? 'bad' : value < limits.clear ? 'clear' : 'band';
  return value <= limits.threshold ? 'bad' : value > limits.clear ? 'clear' : 'band';
}

const round = (n: number) => Math.round(n * 100) / 100;

/** A vital's value in words, `subject` being the mount for disks: "/var 7.5 % free". */
const DETAIL: Record<VitalName, (v: number, subject: string) => string> = {
  temperature: (v) => `${v} °C`,
  cpuPercent: (v) => `CPU ${v} %`,
  loadPerCore: (v) => `load ${v} per core`,
  ramAvailablePercent: (v) => `${v} % RAM available`,
  ramAvailableBytes: (v) => `${v} bytes of RAM available`,
  swapUsedPercent: (v) => `${v} % swap used`,
  diskFreePercent: (v, mount) => `${mount} ${v} % free`,
  diskFreeBytes: (v, mount) => `${mount} ${v} bytes free`,
};

/** What is shown of an observation: its own detail, or its vital's value in words. */
export function detailOf(rule: Rule, o: Observation): string {
  return o.detail ?? (rule.vital ? DETAIL[rule.vital](o.value ?? 0, o.subject) : '');
}

/** A vital of a sample (other than disks), as the rule reads it; undefined when the node cannot tell. */
function vitalOf(vital: VitalName | undefined, node: NodeView, v: ReceivedVitals): number | undefined {
  const info = node.info;
  switch (vital) {
    case 'temperature':
      return v.tempC;
    case 'cpuPercent':
      return v.cpuPercent;
    case 'loadPerCore':
      // A legacy node's samples carry no load: no observation, never a guess.
      return info && info.cpuCores > 0 && v.load5 !== undefined ? v.load5 / info.cpuCores : undefined;
    case 'ramAvailablePercent':
      return info?.ramTotalBytes ? (100 * v.ramAvailableBytes) / info.ramTotalBytes : undefined;
    case 'ramAvailableBytes':
      return v.ramAvailableBytes;
    case 'swapUsedPercent': {
      const total = info?.swapTotalBytes ?? 0;
      return total > 0 ? (100 * (total - v.swapFreeBytes)) / total : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * What a vital rule sees in a sample: one observation, or one per mount for disk rules. Runs for
 * every rule on every stored sample: no closures, no text (BENCHMARKS.md, Alerts).
 */
export function observeVitals(rule: Rule, node: NodeView, vitals: ReceivedVitals): Observation[] {
  if (rule.kind === 'throttle') {
    const flags = vitals.throttled;
    if (!flags) return [];
    const set = rule.when === 'now' ? flags.now : flags.sinceBoot;
    const on = set.includes(rule.flag as string);
    // "Since boot" is one alert per boot: a new boot with the flag set again is told again.
    const subject = rule.when === 'since-boot' ? (node.info?.bootId ?? '') : '';
    const detail = rule.when === 'now' ? `${rule.flag} now` : `${rule.flag} since boot`;
    return [{ subject, verdict: on ? 'bad' : 'clear', value: on ? 1 : 0, detail }];
  }
  if (rule.kind !== 'vital') return [];
  const limits = limitsFor(rule, node);
  if (rule.vital === 'diskFreePercent' || rule.vital === 'diskFreeBytes') {
    const out: Observation[] = [];
    // A legacy node's samples carry no disks: no observation, never a guess.
    for (const d of vitals.disks ?? []) {
      if (d.totalBytes <= 0 || (rule.mount !== undefined && d.mount !== rule.mount)) continue;
      const value = rule.vital === 'diskFreePercent' ? (100 * d.freeBytes) / d.totalBytes : d.freeBytes;
      out.push({ subject: d.mount, verdict: compare(value, rule.op, limits), value: round(value) });
    }
    return out;
  }
  const value = vitalOf(rule.vital, node, vitals);
  if (value === undefined || !Number.isFinite(value)) return [];
  return [{ subject: '', verdict: compare(value, rule.op, limits), value: round(value) }];
}

/** What an offline or clock-skew rule sees in a node's record. */
export function observeNode(rule: Rule, node: NodeView): Observation[] {
  if (rule.kind === 'offline') {
    if (node.state === 'lost') return [{ subject: '', verdict: 'bad', value: null, detail: 'offline (lost)' }];
    // A node that left said goodbye: never an alert. Pending or denied nodes are not offline either.
    return [{ subject: '', verdict: 'clear', value: null, detail: node.state }];
  }
  if (rule.kind === 'clock-skew') {
    if (node.clockSkewMs === null) return [];
    const skew = Math.abs(node.clockSkewMs);
    const verdict = compare(skew, 'above', limitsFor(rule, node));
    return [{ subject: '', verdict, value: Math.round(skew), detail: `clock ${Math.round(node.clockSkewMs)} ms off` }];
  }
  return [];
}

/** What a task-failed rule sees in a task that ended: failed or timed out is bad, succeeded clears. */
export function observeTask(rule: Rule, task: TaskRow): Observation[] {
  if (rule.kind !== 'task-failed' || (rule.task !== undefined && rule.task !== task.kind)) return [];
  if (task.state === 'failed' || task.state === 'timed_out') {
    const why = task.error?.message ? `: ${task.error.message.slice(0, 120)}` : '';
    return [{ subject: task.kind, verdict: 'bad', value: null, detail: `task ${task.kind} ${task.state}${why}` }];
  }
  if (task.state === 'succeeded')
    return [{ subject: task.kind, verdict: 'clear', value: null, detail: `task ${task.kind} succeeded` }];
  return [];
}
