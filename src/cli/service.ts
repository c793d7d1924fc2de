// `picluster install-service primary|secondary` and `uninstall-service`: a systemd unit that runs
// the role at boot as a system user of its own, its data in /var/lib/picluster/ROLE (systemd's
// StateDirectory), logs to the journal, restarted on failure with a growing delay, hardened
// (NoNewPrivileges, ProtectSystem, ProtectHome, PrivateTmp). `--machine-tasks` (a node whose
// primary may reboot it or upgrade its OS) runs as root without ProtectSystem and ProtectHome:
// apt writes /usr and a reboot needs root. `--dry-run` prints the unit and changes nothing.

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type ServiceRole = 'primary' | 'secondary';

export interface UnitOptions {
  role: ServiceRole;
  /** Absolute path of node. */
  nodePath: string;
  /** Absolute path of dist/cli/main.js. */
  mainPath: string;
  /** The system user (ignored with machineTasks: root). */
  user: string;
  machineTasks: boolean;
  /** More flags for the role (`--primary pi0:12345 --token-file ...`). */
  args: readonly string[];
  /** systemd's version: RestartSteps (a growing delay) came in 254. */
  systemdVersion: number;
}

/** One word of ExecStart, quoted for systemd when it needs to be (`%` and `$` doubled: specifiers, variables). */
export function unitWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(escaped) ? escaped : `"${escaped.replace(/(["\\])/g, '\\$1')}"`;
}

export function serviceUnit(o: UnitOptions): string {
  const command = [
    o.nodePath,
    // The agent without V8's optimizing compiler: 5 MB less for one read every 10 s (README).
    ...(o.role === 'secondary' ? ['--no-turbofan'] : []),
    o.mainPath,
    o.role,
    '--data-dir',
    `/var/lib/picluster/${o.role}`,
    ...o.args,
  ];
  const restart =
    o.systemdVersion >= 254
      ? ['RestartSec=1s', 'RestartSteps=6', 'RestartMaxDelaySec=60s']
      : // Before systemd 254 the delay cannot grow: a steady 5 s, never given up on.
        ['RestartSec=5s'];
  const who = o.machineTasks ? ['User=root'] : [`User=${o.user}`, `Group=${o.user}`];
  const hardening = o.machineTasks
    ? [
        '# --machine-tasks: root, /usr and /home writable (apt upgrades, reboots, git pulls).',
        'NoNewPrivileges=yes',
        'PrivateTmp=yes',
      ]
    : [
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'ProtectHome=yes',
        'PrivateTmp=yes',
        // A Pi's throttling flags may come from vcgencmd, which needs /dev/vchiq: the agent keeps /dev.
        ...(o.role === 'primary' ? ['PrivateDevices=yes'] : []),
        'ProtectKernelTunables=yes',
        'ProtectControlGroups=yes',
        'RestrictSUIDSGID=yes',
      ];
  return [
    '# Written by picluster install-service; picluster uninstall-service removes it.',
    '[Unit]',
    `Description=picluster ${o.role}`,
    'Wants=network-online.target',
    'After=network-online.target',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    ...who,
    `ExecStart=${command.map(unitWord).join(' ')}`,
    'Restart=on-failure',
    ...restart,
    // Its data dir, made and owned by systemd for the user; kept when the service is removed.
    `StateDirectory=picluster/${o.role}`,
    'StateDirectoryMode=0700',
    'UMask=0077',
    // Logs go to the journal (stdout): journalctl -u picluster-ROLE.
    'Environment=NODE_ENV=production',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=20s',
    ...hardening,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export const unitPath = (role: ServiceRole) => `/etc/systemd/system/picluster-${role}.service`;
/** Where a `--token` given to install-service goes instead of the unit (which every user can read). */
export const tokenPath = (role: ServiceRole) => `/etc/picluster/${role}.token`;

/**
 * The role's flags with a `--token VALUE` (or `--token=VALUE`) taken out and replaced by
 * `--token-file` on a file of its own: a unit file, `systemctl show` and `ps` are readable by every
 * local user, a 0600 file only by the service's user.
 */
export function withoutToken(args: readonly string[], role: ServiceRole): { args: string[]; token?: string } {
  const out: string[] = [];
  let token: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--token' && i + 1 < args.length) token = args[++i];
    else if (arg.startsWith('--token=')) token = arg.slice('--token='.length);
    else out.push(arg);
  }
  return token === undefined ? { args: out } : { args: [...out, '--token-file', tokenPath(role)], token };
}

/** The built CLI beside this file's package (dist/cli/main.js), whether run built or from source. */
function mainPath(): string {
  return fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
}

/** Why this machine cannot take a service now, or undefined when it can. */
function systemdMissing(): string | undefined {
  const pid1 = existsSync('/proc/1/comm') ? readFileSync('/proc/1/comm', 'utf8').trim() : 'unknown';
  if (pid1 !== 'systemd' || !existsSync('/run/systemd/system')) {
    return `systemd is not PID 1 here (PID 1 is ${pid1}): install-service needs a systemd machine; --dry-run prints the unit to use elsewhere`;
  }
  return undefined;
}

function systemdVersion(): number {
  try {
    const text = execFileSync('systemctl', ['--version'], { encoding: 'utf8' });
    return Number(/systemd (\d+)/.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
}

export interface InstallOptions {
  dryRun: boolean;
  user: string;
  machineTasks: boolean;
  args: string[];
}

export function runInstallService(role: ServiceRole, o: InstallOptions): number {
  const main = mainPath();
  const missing = o.dryRun ? undefined : systemdMissing();
  if (missing) return fail(missing);
  const { args, token } = withoutToken(o.args, role);
  const unit = serviceUnit({
    role,
    nodePath: process.execPath,
    mainPath: main,
    user: o.user,
    machineTasks: o.machineTasks,
    args,
    systemdVersion: systemdVersion(),
  });
  // With ProtectHome (and a user of its own) the service cannot run node or picluster from a home.
  const inHome = [process.execPath, main].find((p) => /^\/(home|root)(\/|$)/.test(p));
  const homeProblem =
    inHome && !o.machineTasks
      ? `${inHome} is in a home directory, which the service cannot reach (ProtectHome, a user of its own): install node and picluster system-wide (npm install -g), or use --machine-tasks`
      : undefined;
  if (o.dryRun) {
    process.stdout.write(unit);
    const notes = [
      token === undefined
        ? ''
        : `the token would go to ${tokenPath(role)} (0600, the service user's), not into the unit`,
      homeProblem ?? '',
      existsSync(main) ? '' : `${main} is not built yet (npm run build)`,
    ];
    for (const note of notes) if (note) process.stderr.write(`picluster: note: ${note}\n`);
    return 0;
  }
  if (process.getuid?.() !== 0) return fail('install-service writes to /etc/systemd/system: run it as root (sudo)');
  if (!existsSync(main)) return fail(`${main} is missing: build picluster first (npm run build)`);
  if (homeProblem) return fail(homeProblem);
  try {
    if (!o.machineTasks && !userExists(o.user)) {
      run('useradd', [
        '--system',
        '--home-dir',
        '/var/lib/picluster',
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        o.user,
      ]);
      process.stdout.write(`made the system user ${o.user}\n`);
    }
    if (token !== undefined) {
      mkdirSync('/etc/picluster', { recursive: true, mode: 0o755 });
      writeFileSync(tokenPath(role), `${token}\n`, { mode: 0o600 });
      chmodSync(tokenPath(role), 0o600);
      if (!o.machineTasks) run('chown', [`${o.user}:`, tokenPath(role)]);
    }
    writeFileSync(unitPath(role), unit, { mode: 0o644 });
    run('systemctl', ['daemon-reload']);
    run('systemctl', ['enable', '--now', `picluster-${role}.service`]);
  } catch (err) {
    return fail(`install-service stopped: ${(err as Error).message.split('\n')[0]}`);
  }
  process.stdout.write(
    `${unitPath(role)} written, enabled and started; its data is in /var/lib/picluster/${role}; logs: journalctl -u picluster-${role}\n`,
  );
  return 0;
}

export function runUninstallService(role: ServiceRole, o: { dryRun: boolean }): number {
  const path = unitPath(role);
  if (o.dryRun) {
    process.stdout.write(`would stop and disable picluster-${role}.service and remove ${path}\n`);
    return 0;
  }
  const missing = systemdMissing();
  if (missing) return fail(missing);
  if (process.getuid?.() !== 0) return fail('uninstall-service changes /etc/systemd/system: run it as root (sudo)');
  if (!existsSync(path)) return fail(`${path} does not exist: nothing to remove`);
  try {
    run('systemctl', ['disable', '--now', `picluster-${role}.service`]);
    rmSync(path);
    run('systemctl', ['daemon-reload']);
  } catch (err) {
    return fail(`uninstall-service stopped: ${(err as Error).message.split('\n')[0]}`);
  }
  process.stdout.write(`picluster-${role} stopped and removed; its data stays in /var/lib/picluster/${role}\n`);
  return 0;
}

function userExists(user: string): boolean {
  try {
    execFileSync('id', ['-u', user], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function fail(message: string): number {
  process.stderr.write(`picluster: ${message}\n`);
  return 1;
}
