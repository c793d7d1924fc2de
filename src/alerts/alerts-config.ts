// The `[alerts]` table of the primary's config file: engine settings, `[[alerts.rules]]` and
// `[alerts.channels.NAME]`, checked whole at start so a bad rule or channel stops the primary
// with one line (exit 2) rather than at the first alert.

import { parseDuration } from '../common/duration.js';
import { ConfigError } from '../protocol/errors.js';
import { type ChannelConfig, channelConfigOf } from './channels.js';
import { quietHoursOf } from './quiet-hours.js';
import { DEFAULT_REPEAT_MS, type RuleInput, ruleOf } from './rules.js';

export interface AlertsConfig {
  /** The rules that ship enabled (rules.ts, DEFAULT_RULES). Default true. */
  defaults: boolean;
  /** Repeat interval of a firing alert, for rules that do not set one. Default 4 h. */
  repeatMs: number;
  /** A rule that fires flapCount times within flapWindowMs is flapping. Defaults 3 and 1 h. */
  flapCount: number;
  flapWindowMs: number;
  /** How often pending alerts, repeats and quiet hours are looked at. Default 1 s. */
  tickMs: number;
  rules: RuleInput[];
  channels: Record<string, ChannelConfig>;
}

export const DEFAULT_ALERTS: Readonly<AlertsConfig> = Object.freeze({
  defaults: true,
  repeatMs: DEFAULT_REPEAT_MS,
  flapCount: 3,
  flapWindowMs: 3_600_000,
  tickMs: 1000,
  rules: [],
  channels: {},
});

const KEYS = ['defaults', 'repeat', 'flapCount', 'flapWindow', 'tick', 'rules', 'channels'];

function durationOf(value: unknown, key: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || !Number.isInteger(ms) || ms < 0)
    throw new ConfigError(`alerts.${key}: expected a duration like "4h"`);
  return ms;
}

/**
 * The `[alerts]` table as read from TOML, checked.
 * @throws ConfigError naming the key, rule or channel
 */
export function alertsConfigOf(table: unknown): AlertsConfig {
  if (table === undefined) return { ...DEFAULT_ALERTS };
  if (table === null || typeof table !== 'object' || Array.isArray(table))
    throw new ConfigError('alerts: expected a table ([alerts])');
  const t = table as Record<string, unknown>;
  for (const key of Object.keys(t)) {
    if (!KEYS.includes(key)) throw new ConfigError(`unknown key "alerts.${key}" (known: ${KEYS.join(', ')})`);
  }
  if (t.defaults !== undefined && typeof t.defaults !== 'boolean')
    throw new ConfigError('alerts.defaults: expected true or false');
  const flapCount = t.flapCount ?? 3;
  if (!Number.isInteger(flapCount) || (flapCount as number) < 2)
    throw new ConfigError('alerts.flapCount: expected an integer ≥ 2');
  const config: AlertsConfig = {
    defaults: (t.defaults as boolean | undefined) ?? true,
    repeatMs: durationOf(t.repeat, 'repeat', DEFAULT_REPEAT_MS),
    flapCount: flapCount as number,
    flapWindowMs: durationOf(t.flapWindow, 'flapWindow', 3_600_000),
    tickMs: Math.max(10, durationOf(t.tick, 'tick', 1000)),
    rules: [],
    channels: {},
  };
  if (t.rules !== undefined && !Array.isArray(t.rules))
    throw new ConfigError('alerts.rules: expected [[alerts.rules]] tables');
  const names = new Set<string>();
  for (const given of (t.rules as unknown[] | undefined) ?? []) {
    const rule = ruleOf(given, 'config', config.repeatMs);
    if (names.has(rule.name)) throw new ConfigError(`alert rule "${rule.name}" is defined twice`);
    names.add(rule.name);
    config.rules.push(rule.input);
  }
  const channels = t.channels ?? {};
  if (typeof channels !== 'object' || channels === null || Array.isArray(channels))
    throw new ConfigError('alerts.channels: expected [alerts.channels.NAME] tables');
  for (const [name, given] of Object.entries(channels)) {
    const channel = channelConfigOf(name, given);
    if (channel.quietHours) quietHoursOf(channel.quietHours, `alert channel "${name}"`);
    config.channels[name] = channel;
  }
  for (const rule of config.rules) {
    for (const name of rule.channels ?? []) {
      if (!(name in config.channels))
        throw new ConfigError(`alert rule "${rule.name}": no channel "${name}" in [alerts.channels]`);
    }
  }
  return config;
}
