// What every command of the CLI is built with: the flags of the settings a role uses, the config
// those flags give, and integer flags checked as they are parsed.

import { type Command, Option } from 'commander';
import { ConfigError } from '../protocol/errors.js';
import { type Config, loadConfig } from './config.js';
import { envNameOf, type Role, SETTINGS, usageOf } from './settings.js';

/** Adds the flags of every setting used by `roles`, and --config. */
export function withSettings(command: Command, roles: Role[]): Command {
  command.addOption(new Option('--config <FILE>', 'TOML config file').env('PICLUSTER_CONFIG'));
  for (const s of SETTINGS) {
    if (!s.roles.some((r) => roles.includes(r))) continue;
    const flag = usageOf(s);
    const shown =
      s.default === undefined || (typeof s.default === 'object' && Object.keys(s.default as object).length === 0)
        ? ''
        : ` (default: ${s.default})`;
    command.addOption(new Option(flag, `${s.description}${shown} [env ${envNameOf(s.key)}]`));
  }
  return command;
}

export function configFrom(command: Command, roles: Role[]): Config {
  return loadConfig({ roles, flags: command.opts() });
}

/**
 * The config of `primary`, `secondary` or `up`. A primary's [alerts] table is checked by the
 * alerts layer, loaded here only when a primary runs: an agent never carries it (its RSS).
 */
export async function daemonConfigFrom(command: Command, roles: Role[]): Promise<Config> {
  const checkAlerts = roles.includes('primary')
    ? (await import('../alerts/alerts-config.js')).alertsConfigOf
    : undefined;
  return loadConfig({ roles, flags: command.opts(), checkAlerts });
}

/** A commander parser of an integer flag of at least `min`. */
export const integer = (name: string, min: number) => (text: string) => {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}, got "${text}"`);
  return n;
};
