// The commander wiring of `picluster alerts ...` and `picluster silence ...` (alerts.ts runs them).
// The parents have no options of their own: `alerts test NAME --api URL` must reach `test`, and a
// bare parent lists through its default subcommand.

import type { Command } from 'commander';
import { configFrom, integer, withSettings } from './command-kit.js';

const STATUS = ['status'] as const;

export function addAlertCommands(program: Command): void {
  const alerts = program
    .command('alerts')
    .description('open alerts (pending, firing); their history, rules and channels; send a test message');
  withSettings(alerts.command('list', { isDefault: true }).description('open alerts (the default)'), [...STATUS])
    .option('--json', 'print the API answer as JSON')
    .option('--state <STATE>', 'only alerts in this state: pending, firing (resolved: the newest resolved ones)')
    .action(async (opts: { json?: boolean; state?: string }, cmd: Command) => {
      const { runAlertsList } = await import('./alerts.js');
      process.exitCode = await runAlertsList(configFrom(cmd, [...STATUS]), {
        json: opts.json === true,
        state: opts.state,
      });
    });
  withSettings(alerts.command('history').description('stored alerts, newest first (silenced ones too)'), [...STATUS])
    .option('--json', 'print the API answer as JSON')
    .option('--state <STATE>', 'only alerts in this state (firing, resolved)')
    .option('--node <ID>', "only this node's alerts")
    .option('--rule <NAME>', "only this rule's alerts")
    .option('--limit <N>', 'at most N alerts (default 100)', integer('--limit', 1))
    .action(
      async (opts: { json?: boolean; state?: string; node?: string; rule?: string; limit?: number }, cmd: Command) => {
        const { runAlertsList } = await import('./alerts.js');
        process.exitCode = await runAlertsList(configFrom(cmd, [...STATUS]), {
          ...opts,
          json: opts.json === true,
          history: true,
        });
      },
    );
  withSettings(alerts.command('rules').description("the alert rules: defaults, the config file's, the API's"), [
    ...STATUS,
  ])
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { runAlertRules } = await import('./alerts.js');
      process.exitCode = await runAlertRules(configFrom(cmd, [...STATUS]), { json: opts.json === true });
    });
  withSettings(alerts.command('channels').description('the alert channels: sent, failed, queued, quiet hours'), [
    ...STATUS,
  ])
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { runAlertChannels } = await import('./alerts.js');
      process.exitCode = await runAlertChannels(configFrom(cmd, [...STATUS]), { json: opts.json === true });
    });
  withSettings(
    alerts
      .command('test')
      .description('send a test message on a channel now')
      .argument('<CHANNEL>', 'the channel name'),
    [...STATUS],
  ).action(async (channel: string, _opts, cmd: Command) => {
    const { runAlertTest } = await import('./alerts.js');
    process.exitCode = await runAlertTest(configFrom(cmd, [...STATUS]), channel);
  });

  const silence = program
    .command('silence')
    .description('list silences; add one (hold alert messages back until a time) or remove one');
  withSettings(silence.command('list', { isDefault: true }).description('the active silences (the default)'), [
    ...STATUS,
  ])
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { runSilenceList } = await import('./alerts.js');
      process.exitCode = await runSilenceList(configFrom(cmd, [...STATUS]), { json: opts.json === true });
    });
  withSettings(
    silence
      .command('add')
      .description('silence alerts: picluster silence add --node pi-3 --for 2h --comment "moving it"')
      .option('--rule <NAME>', 'alerts of this rule')
      .option('--node <ID>', 'alerts of this node (id or name)')
      .option('--labels <K=V,...>', 'alerts of nodes with these labels')
      .option('--for <DURATION>', 'how long: 90m, 2h, 1d')
      .option('--until <TIME>', 'until this time (ISO 8601, e.g. 2026-12-24T08:00:00Z)')
      .option('--comment <TEXT>', 'why (shown with the silence)')
      .option('--json', 'print the silence as JSON'),
    [...STATUS],
  ).action(async (opts: Record<string, string | boolean | undefined>, cmd: Command) => {
    const { runSilenceAdd } = await import('./alerts.js');
    process.exitCode = await runSilenceAdd(configFrom(cmd, [...STATUS]), {
      rule: opts.rule as string | undefined,
      node: opts.node as string | undefined,
      labels: opts.labels as string | undefined,
      for: opts.for as string | undefined,
      until: opts.until as string | undefined,
      comment: opts.comment as string | undefined,
      json: opts.json === true,
    });
  });
  withSettings(silence.command('remove').description('end a silence now').argument('<ID>', 'the silence id'), [
    ...STATUS,
  ]).action(async (id: string, _opts, cmd: Command) => {
    const { runSilenceRemove } = await import('./alerts.js');
    process.exitCode = await runSilenceRemove(configFrom(cmd, [...STATUS]), id);
  });
}
