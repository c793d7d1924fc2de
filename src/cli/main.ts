#!/usr/bin/env node
// The `picluster` command: a thin shell over the library. Parses flags (commander), loads the
// configuration, sets up logging and signals, and runs one of the roles.

import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../protocol/errors.js';
import { type Config, loadConfig } from './config.js';
import { runMigrateConfig } from './migrate-config.js';
import { runDaemons } from './run-daemons.js';
import { envNameOf, type Role, SETTINGS, usageOf } from './settings.js';
import { runStatus } from './status.js';

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** Adds the flags of every setting used by `roles`, and --config. */
function withSettings(command: Command, roles: Role[]): Command {
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

function configFrom(command: Command, roles: Role[]): Config {
  return loadConfig({ roles, flags: command.opts() });
}

export function buildProgram(): Command {
  const program = new Command('picluster')
    .description('Cluster manager for small fleets: one primary, many secondaries over TCP.')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  withSettings(program.command('primary').description('run the primary: cluster listener, store, API'), [
    'primary',
  ]).action((_opts, command: Command) =>
    runDaemons(configFrom(command, ['primary']), { primary: true, secondary: false, version }),
  );
  withSettings(program.command('secondary').description('run a secondary (the agent on each node)'), [
    'secondary',
  ]).action((_opts, command: Command) =>
    runDaemons(configFrom(command, ['secondary']), { primary: false, secondary: true, version }),
  );
  withSettings(program.command('up').description('run a primary with one local secondary (this is `npm start`)'), [
    'primary',
    'secondary',
  ]).action((_opts, command: Command) =>
    runDaemons(configFrom(command, ['primary', 'secondary']), { primary: true, secondary: true, version }),
  );
  withSettings(program.command('status').description("show the cluster's nodes"), ['status'])
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: { json?: boolean }, command: Command) => {
      process.exitCode = await runStatus(configFrom(command, ['status']), { json: opts.json === true });
    });
  program
    .command('migrate-config')
    .description("turn the original Python cluster's rpicluster.cfg into picluster's TOML config")
    .argument('<FILE>', 'the original rpicluster.cfg')
    .option('--out <FILE>', 'write the TOML to FILE (never overwritten) instead of stdout')
    .action((file: string, opts: { out?: string }) => {
      process.exitCode = runMigrateConfig(file, { out: opts.out });
    });
  for (const command of program.commands) command.exitOverride();
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`picluster: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`picluster: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

await main();
