#!/usr/bin/env node
// The `picluster` command: a thin shell over the library. Parses flags (commander), loads the
// configuration, sets up logging and signals, and runs one of the roles. Each command's module is
// imported when that command runs: an agent (`picluster secondary`) loads only the agent (its RSS,
// BENCHMARKS.md "Agent cost").

// First: an old Node.js stops here with one line, before anything else runs.
import './node-version.js';
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULTS } from '../common/defaults.js';
import { ConfigError } from '../protocol/errors.js';
import { addAlertCommands } from './alert-commands.js';
import { configFrom, daemonConfigFrom, integer, withSettings } from './command-kit.js';
import { runDaemons } from './run-daemons.js';

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command('picluster')
    .description('Cluster manager for small fleets: one primary, many secondaries over TCP.')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  withSettings(program.command('primary').description('run the primary: cluster listener, store, API'), [
    'primary',
  ]).action(async (_opts, command: Command) =>
    runDaemons(await daemonConfigFrom(command, ['primary']), { primary: true, secondary: false, version }),
  );
  withSettings(program.command('secondary').description('run a secondary (the agent on each node)'), [
    'secondary',
  ]).action(async (_opts, command: Command) =>
    runDaemons(await daemonConfigFrom(command, ['secondary']), { primary: false, secondary: true, version }),
  );
  withSettings(program.command('up').description('run a primary with one local secondary (this is `npm start`)'), [
    'primary',
    'secondary',
  ]).action(async (_opts, command: Command) =>
    runDaemons(await daemonConfigFrom(command, ['primary', 'secondary']), {
      primary: true,
      secondary: true,
      version,
    }),
  );
  withSettings(program.command('status').description("show the cluster's nodes"), ['status'])
    .option('--json', 'print the API answer as JSON')
    .option('--watch', 'show it again every interval until Ctrl-C (redrawn in place, states in colour, on a terminal)')
    .option('--interval <MS>', 'milliseconds between readings with --watch (default 2000)', integer('--interval', 200))
    .action(async (opts: { json?: boolean; watch?: boolean; interval?: number }, command: Command) => {
      const { runStatus } = await import('./status.js');
      process.exitCode = await runStatus(configFrom(command, ['status']), {
        json: opts.json === true,
        watch: opts.watch === true,
        intervalMs: opts.interval,
      });
    });
  withSettings(program.command('events').description("the primary's events log, oldest first; --follow for new ones"), [
    'status',
  ])
    .option('--node <ID>', "only this node's events")
    .option('--limit <N>', 'the newest N events (default 50, at most 1000)', integer('--limit', 1))
    .option('--follow', 'then print new events as they come, until Ctrl-C')
    .option('--json', 'print the API answer as JSON (with --follow: one event per line)')
    .action(async (opts: { node?: string; limit?: number; follow?: boolean; json?: boolean }, command: Command) => {
      const { runEvents } = await import('./events.js');
      process.exitCode = await runEvents(configFrom(command, ['status']), {
        node: opts.node,
        limit: opts.limit,
        follow: opts.follow === true,
        json: opts.json === true,
      });
    });
  const nodes = program.command('nodes').description('show a node; act on one: approve, deny, revoke, forget');
  withSettings(
    nodes
      .command('show')
      .description('one node in full: machine, vitals, clock, version, open alerts, latest events')
      .argument('<ID>', 'the node id (or its name, when one node has it)'),
    ['status'],
  )
    .option('--json', 'print the node, its open alerts and its latest events as JSON')
    .action(async (which: string, opts: { json?: boolean }, cmd: Command) => {
      const { runNodeShow } = await import('./node-show.js');
      process.exitCode = await runNodeShow(configFrom(cmd, ['status']), which, { json: opts.json === true });
    });
  for (const [action, what] of [
    ['approve', 'let a pending or denied node join'],
    ['deny', 'refuse a (pending) node from now on'],
    ['revoke', "void a node's secret, close its session and refuse it from now on"],
    ['forget', 'remove a node and its secret (its history stays unless --history)'],
  ] as const) {
    const command = withSettings(nodes.command(action).description(what).argument('<ID>', 'the node id'), ['status']);
    if (action === 'forget') command.option('--history', "also delete the node's samples and events");
    command.action(async (id: string, opts: { history?: boolean }, cmd: Command) => {
      const { runNodeAction } = await import('./admin.js');
      process.exitCode = await runNodeAction(configFrom(cmd, ['status']), action, id, {
        history: opts.history === true,
      });
    });
  }
  addTaskCommands(program);
  addScheduleCommands(program);
  addAlertCommands(program);
  for (const [name, what] of [
    ['install-service', 'run a role at boot: write a systemd unit, enable and start it (--dry-run: print it)'],
    ['uninstall-service', 'stop and remove the systemd unit of a role (its data stays)'],
  ] as const) {
    const install = name === 'install-service';
    const command = program.command(name).description(what).argument('<ROLE>', 'primary or secondary');
    if (install) {
      command
        .argument(
          '[ARGS...]',
          'more flags for the role, after --: -- --primary pi0:12345 --token-file /etc/picluster/token',
        )
        .option('--user <NAME>', 'the system user it runs as, made if missing (default picluster)')
        .option('--machine-tasks', 'a node its primary may reboot or upgrade: run as root, /usr and /home writable');
    }
    command.option('--dry-run', 'print what would be done (install: the unit) and change nothing');
    command.action(async (role: string, ...rest: unknown[]) => {
      // install-service takes (ROLE, ARGS, options); uninstall-service (ROLE, options).
      const args = install ? (rest[0] as string[]) : [];
      const opts = (install ? rest[1] : rest[0]) as { dryRun?: boolean; user?: string; machineTasks?: boolean };
      if (role !== 'primary' && role !== 'secondary')
        throw new ConfigError(`ROLE is primary or secondary, not "${role}"`);
      const { runInstallService, runUninstallService } = await import('./service.js');
      const dryRun = opts.dryRun === true;
      process.exitCode =
        name === 'install-service'
          ? runInstallService(role, {
              dryRun,
              user: opts.user ?? 'picluster',
              machineTasks: opts.machineTasks === true,
              args,
            })
          : runUninstallService(role, { dryRun });
    });
  }
  withSettings(
    program
      .command('join-command')
      .description('print the one line that joins a new node (a short-lived join code, the address, the fingerprint)')
      .option('--name <NAME>', "the new node's name (default: its hostname)")
      .option('--labels <K=V,...>', "the new node's labels")
      .option('--host <HOST>', "the primary's address as the node reaches it (default: the primary's hostname)")
      .option('--ttl <DURATION>', 'how long the code is good for (default 1h, at most 7d)')
      .option('--uses <N>', 'how many nodes may join with it (default 1)', integer('--uses', 1))
      .option('--install-service', 'a line that installs the agent as a systemd service (install-service)'),
    ['status'],
  ).action(async (opts: Record<string, unknown>, cmd: Command) => {
    const { runJoinCommand } = await import('./join-command.js');
    process.exitCode = await runJoinCommand(configFrom(cmd, ['status']), {
      name: opts.name as string | undefined,
      labels: opts.labels as string | undefined,
      host: opts.host as string | undefined,
      ttl: opts.ttl as string | undefined,
      uses: opts.uses as number | undefined,
      installService: opts.installService === true,
    });
  });
  program
    .command('backup')
    .description(
      "an online copy of the primary's database (nodes, secrets, history, tasks, alerts), taken while it runs",
    )
    .argument('<FILE>', 'where to write it (a new file; mode 0600: it holds the node secrets)')
    .addOption(
      new Option('--data-dir <DIR>', "the primary's data directory (default ./data)").env('PICLUSTER_DATA_DIR'),
    )
    .action(async (file: string, opts: { dataDir?: string }) => {
      // Loaded here: SQLite is the primary's, never every command's (an agent's RSS), and an
      // optional dependency an agent-only install leaves out.
      const { isMissingDriver, NO_SQLITE_DRIVER } = await import('../store/sqlite/open.js');
      const { runBackup } = await import('./backup.js').catch((err: unknown) => {
        throw isMissingDriver(err) ? new Error(NO_SQLITE_DRIVER.replace('the primary needs', 'backup needs')) : err;
      });
      process.exitCode = await runBackup(file, { dataDir: opts.dataDir ?? DEFAULTS.dataDir });
    });
  const token = program.command('token').description('the cluster token');
  withSettings(
    token
      .command('rotate')
      .description('replace the cluster token: new nodes need the new one, enrolled nodes are untouched'),
    ['status'],
  ).action(async (_opts, cmd: Command) => {
    const { runTokenRotate } = await import('./admin.js');
    process.exitCode = await runTokenRotate(configFrom(cmd, ['status']));
  });
  program
    .command('migrate-config')
    .description("turn the original Python cluster's rpicluster.cfg into picluster's TOML config")
    .argument('<FILE>', 'the original rpicluster.cfg')
    .option('--out <FILE>', 'write the TOML to FILE (never overwritten) instead of stdout')
    .action(async (file: string, opts: { out?: string }) => {
      const { runMigrateConfig } = await import('./migrate-config.js');
      process.exitCode = runMigrateConfig(file, { out: opts.out });
    });
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program)) command.exitOverride();
  return program;
}

function addTaskCommands(program: Command): void {
  withSettings(
    program
      .command('run')
      .description(
        'run a task on nodes: picluster run node.time --on all --wait; picluster run shell --on pi-1 -- uptime',
      )
      .argument(
        '<KIND>',
        'node.time, node.info, node.vitals, code.revision, code.pull, os.update, os.upgrade, node.reboot, node.shutdown, node.restart-agent, shell, or a kind a node registered',
      )
      .argument(
        '[ARGS...]',
        'key=value arguments (JSON values taken as JSON); for shell, the command and its arguments',
      )
      .requiredOption(
        '--on <TARGET>',
        'node:ID, a node name, any, k=v[,k=v] (one matching node), all, all:k=v (every matching node)',
      )
      .option('--wait', 'wait for the outcome, with a progress line; exit 0 only if it succeeded')
      .option('--json', 'print the task as JSON')
      .option('--args <JSON>', 'the arguments as one JSON object')
      .option(
        '--timeout <MS>',
        "how long the task may run, ms (default: the primary's tasks.timeoutMs, 300000)",
        integer('--timeout', 1),
      )
      .option(
        '--ttl <MS>',
        "how long it may wait for its node to be online, ms (default: the primary's tasks.ttlMs, 86400000)",
        integer('--ttl', 0),
      )
      .option(
        '--rolling <N|N%>',
        "with --on all[:k=v]: N nodes (or N% of them) at a time, the next once the last is healthy again; stops at the first failure; the primary's own node goes last",
      )
      .option('--then-reboot', "with --rolling: each node reboots after its task, before the next node's turn")
      .option(
        '--retries <N>',
        'attempts on another node after a node is lost mid-run (default: 2 for read-only kinds, else 0)',
        integer('--retries', 0),
      ),
    ['status'],
  ).action(async (kind: string, words: string[], opts: Record<string, unknown>, cmd: Command) => {
    const { runTask } = await import('./tasks.js');
    process.exitCode = await runTask(configFrom(cmd, ['status']), kind, words, {
      on: opts.on as string,
      wait: opts.wait === true,
      json: opts.json === true,
      args: opts.args as string | undefined,
      timeoutMs: opts.timeout as number | undefined,
      ttlMs: opts.ttl as number | undefined,
      retries: opts.retries as number | undefined,
      rolling: opts.rolling as string | undefined,
      thenReboot: opts.thenReboot === true,
    });
  });
  // No options of its own: `tasks show ID --api URL` must reach `show` (a parent that knows --api
  // would take it); the bare command lists through its default subcommand.
  const tasks = program.command('tasks').description('list tasks (newest first); show or cancel one');
  withSettings(tasks.command('list', { isDefault: true }).description('list tasks, newest first'), ['status'])
    .option('--json', 'print the API answer as JSON')
    .option(
      '--state <STATE>',
      'only tasks in this state (queued, assigned, running, succeeded, failed, timed_out, cancelled)',
    )
    .option('--node <ID>', 'only tasks of this node')
    .option('--limit <N>', 'at most N tasks (default 100)', integer('--limit', 1))
    .action(async (opts: { json?: boolean; state?: string; node?: string; limit?: number }, cmd: Command) => {
      const { runTasksList } = await import('./tasks.js');
      process.exitCode = await runTasksList(configFrom(cmd, ['status']), { ...opts, json: opts.json === true });
    });
  withSettings(tasks.command('show').description('one task: state, result, output').argument('<ID>', 'the task id'), [
    'status',
  ])
    .option('--json', 'print the API answer as JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const { runTaskShow } = await import('./tasks.js');
      process.exitCode = await runTaskShow(configFrom(cmd, ['status']), id, { json: opts.json === true });
    });
  withSettings(
    tasks.command('cancel').description('cancel a task at any state short of done').argument('<ID>', 'the task id'),
    ['status'],
  ).action(async (id: string, _opts, cmd: Command) => {
    const { runTaskCancel } = await import('./tasks.js');
    process.exitCode = await runTaskCancel(configFrom(cmd, ['status']), id);
  });
}

function addScheduleCommands(program: Command): void {
  // No options of its own: `schedules add ... --api URL` must reach `add` (a parent that knows
  // --api would take it), and the bare command lists through its default subcommand.
  const schedules = program
    .command('schedules')
    .description('list task schedules (next run, last runs); add or remove one');
  withSettings(schedules.command('list', { isDefault: true }).description('list the schedules (the default)'), [
    'status',
  ])
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { runSchedulesList } = await import('./schedules.js');
      process.exitCode = await runSchedulesList(configFrom(cmd, ['status']), { json: opts.json === true });
    });
  withSettings(
    schedules
      .command('add')
      .description(
        'run a task on a schedule: picluster schedules add node.time --on all --every 60000; ... --cron "0 3 * * *" --timezone Europe/Berlin',
      )
      .argument('<KIND>', 'the task kind, as for picluster run')
      .argument(
        '[ARGS...]',
        'key=value arguments (JSON values taken as JSON); for shell, the command and its arguments',
      )
      .requiredOption('--on <TARGET>', 'node:ID, a node name, any, k=v[,k=v], all, all:k=v (as for picluster run)')
      .addOption(
        new Option(
          '--cron <EXPR>',
          'a cron expression: minute hour day-of-month month day-of-week (or seconds first)',
        ).conflicts('every'),
      )
      .option('--timezone <TZ>', "the IANA time zone of --cron (default: the primary's)")
      .option('--every <MS>', 'milliseconds between runs (at least 1000)', integer('--every', 1000))
      .option('--name <NAME>', 'a name to show in lists (default: KIND on TARGET)')
      .option('--args <JSON>', 'the arguments as one JSON object')
      .option('--timeout <MS>', "each run's timeout, ms (default 300000)", integer('--timeout', 1))
      .option(
        '--ttl <MS>',
        'how long each run may wait for its node to be online, ms (default 86400000)',
        integer('--ttl', 0),
      )
      .option('--json', 'print the schedule as JSON'),
    ['status'],
  ).action(async (kind: string, words: string[], opts: Record<string, unknown>, cmd: Command) => {
    const { runScheduleAdd } = await import('./schedules.js');
    process.exitCode = await runScheduleAdd(configFrom(cmd, ['status']), kind, words, {
      on: opts.on as string,
      cron: opts.cron as string | undefined,
      timezone: opts.timezone as string | undefined,
      everyMs: opts.every as number | undefined,
      name: opts.name as string | undefined,
      args: opts.args as string | undefined,
      timeoutMs: opts.timeout as number | undefined,
      ttlMs: opts.ttl as number | undefined,
      json: opts.json === true,
    });
  });
  withSettings(
    schedules.command('remove').description('remove a schedule (its runs stay)').argument('<ID>', 'the schedule id'),
    ['status'],
  ).action(async (id: string, _opts, cmd: Command) => {
    const { runScheduleRemove } = await import('./schedules.js');
    process.exitCode = await runScheduleRemove(configFrom(cmd, ['status']), id);
  });
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
