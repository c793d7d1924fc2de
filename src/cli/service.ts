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
  /** Groups the service's user joins for the service (`video` for vcgencmd on a Pi), existing ones only. */
  groups?: readonly string[];
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
  const groups = o.machineTasks || !o.groups?.length ? [] : [`SupplementaryGroups=${o.groups.join(' ')}`];
  const who = o.machineTasks ? ['User=root'] : [`User=${o.user}`, `Group=${o.user}`, ...groups];
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

/**
 * The flags holding a secret that install-service takes out of the unit into a 0600 file of its
 * own, read back through the flag's `-file` twin: a unit file, `systemctl show` and `ps` are
 * readable by every local user, the file only by the service's user.
 */
const SECRET_FLAGS = [
  { flag: '--token', fileFlag: '--token-file', file: 'token' },
  { flag: '--admin-token', fileFlag: '--admin-token-file', file: 'admin-token' },
] as const;

/** URL flags whose value may carry a password (`user:password@`), which has no `-file` twin. */
const URL_FLAGS = ['--store', '--influx-url'] as const;

/** Where a secret flag given to install-service goes instead of the unit. */
export const secretPath = (role: ServiceRole, file: string) => `/etc/picluster/${role}.${file}`;

export interface SecretFile {
  /** The flag it was given with (`--token`). */
  flag: string;
  path: string;
  value: string;
}

/**
 * The role's flags with every secret (`--token VALUE`, `--token=VALUE`, `--admin-token …`) taken
 * out and replaced by its `-file` twin on a file of its own.
 * @throws Error when a URL flag carries a password: it has no file twin (a config file has).
 */
export function withoutSecrets(args: readonly string[], role: ServiceRole): { args: string[]; secrets: SecretFile[] } {
  const out: string[] = [];
  const found = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = name === arg ? undefined : arg.slice(eq + 1);
    const value = inline ?? (i + 1 < args.length ? args[i + 1] : undefined);
    if (SECRET_FLAGS.some((s) => s.flag === name) && value !== undefined) {
      found.set(name, value);
      if (inline === undefined) i++;
      continue;
    }
    if ((URL_FLAGS as readonly string[]).includes(name) && value !== undefined && urlPassword(value)) {
      throw new Error(
        `${name} holds a password, and the unit is readable by every local user: put it in a TOML config file only the service's user can read and pass --config FILE instead`,
      );
    }
    out.push(arg);
  }
  const secrets: SecretFile[] = [];
  for (const s of SECRET_FLAGS) {
    const value = found.get(s.flag);
    if (value === undefined) continue;
    const path = secretPath(role, s.file);
    out.push(s.fileFlag, path);
    secrets.push({ flag: s.flag, path, value });
  }
  return { args: out, secrets };
}

/** True when `value` is a URL with a password in it. */
function urlPassword(value: string): boolean {
  try {
    return new URL(value).password !== '';
  } catch {
    return false;
  }
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
  let args: string[];
  let secrets: SecretFile[];
  try {
    ({ args, secrets } = withoutSecrets(o.args, role));
  } catch (err) {
    return fail((err as Error).message);
  }
  const unit = serviceUnit({
    role,
    nodePath: process.execPath,
    mainPath: main,
    user: o.user,
    machineTasks: o.machineTasks,
    args,
    systemdVersion: systemdVersion(),
    // On Raspberry Pi OS /dev/vchiq (vcgencmd: throttling flags on boards without the sysfs file)
    // is root:video 0660. A group that does not exist would stop the service from starting.
    groups: role === 'secondary' && groupExists('video') ? ['video'] : [],
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
      ...secrets.map(
        (f) => `the ${f.flag.slice(2)} would go to ${f.path} (0600, the service user's), not into the unit`,
      ),
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
    for (const secret of secrets) {
      mkdirSync('/etc/picluster', { recursive: true, mode: 0o755 });
      writeFileSync(secret.path, `${secret.value}\n`, { mode: 0o600 });
      chmodSync(secret.path, 0o600);
      if (!o.machineTasks) run('chown', [`${o.user}:`, secret.path]);
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

function groupExists(group: string): boolean {
  try {
    execFileSync('getent', ['group', group], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
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
