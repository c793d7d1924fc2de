// The systemd unit of `picluster install-service`: what it runs, as whom, how it restarts, how it
// is hardened (and loosened for machine-changing tasks); and systemd's own check of it.
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { serviceUnit, unitWord, withoutSecrets } from '../../../src/cli/service.js';
import { requirePrograms } from '../../helpers/require-tool.js';

const base = {
  nodePath: process.execPath,
  mainPath: '/opt/picluster/dist/cli/main.js',
  user: 'picluster',
  machineTasks: false,
  args: [] as string[],
  systemdVersion: 252,
};
const line = (unit: string, key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`));

describe('install-service unit', () => {
  it('runs the agent as its own user with --no-turbofan, its data in /var/lib/picluster, hardened', () => {
    const unit = serviceUnit({ ...base, role: 'secondary', args: ['--primary', 'pi0:12345', '--labels', 'role=cam'] });
    assert.deepEqual(line(unit, 'ExecStart'), [
      `ExecStart=${process.execPath} --no-turbofan /opt/picluster/dist/cli/main.js secondary --data-dir /var/lib/picluster/secondary --primary pi0:12345 --labels role=cam`,
    ]);
    assert.deepEqual(line(unit, 'User'), ['User=picluster']);
    assert.deepEqual(line(unit, 'StateDirectory'), ['StateDirectory=picluster/secondary']);
    assert.deepEqual(line(unit, 'Restart'), ['Restart=on-failure']);
    for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp'])
      assert.deepEqual(line(unit, key), [`${key}=yes`]);
    assert.deepEqual(line(unit, 'ProtectSystem'), ['ProtectSystem=strict']);
    assert.deepEqual(line(unit, 'PrivateDevices'), [], "the agent keeps /dev (a Pi's vcgencmd)");
    assert.deepEqual(line(unit, 'WantedBy'), ['WantedBy=multi-user.target']);
  });

  it('the primary runs without --no-turbofan and with PrivateDevices; machine tasks run as root, /usr writable', () => {
    const primary = serviceUnit({ ...base, role: 'primary' });
    assert.match(
      line(primary, 'ExecStart')[0] ?? '',
      / \/opt\/picluster\/dist\/cli\/main\.js primary --data-dir \/var\/lib\/picluster\/primary$/,
    );
    assert.doesNotMatch(primary, /--no-turbofan/);
    assert.deepEqual(line(primary, 'PrivateDevices'), ['PrivateDevices=yes']);
    const machine = serviceUnit({ ...base, role: 'secondary', machineTasks: true });
    assert.deepEqual(line(machine, 'User'), ['User=root']);
    assert.deepEqual(line(machine, 'ProtectSystem'), []);
    assert.deepEqual(line(machine, 'ProtectHome'), []);
    assert.deepEqual(line(machine, 'NoNewPrivileges'), ['NoNewPrivileges=yes']);
  });

  it('restarts with a growing delay where systemd can (254+), a steady one before', () => {
    assert.deepEqual(line(serviceUnit({ ...base, role: 'secondary' }), 'RestartSec'), ['RestartSec=5s']);
    const newer = serviceUnit({ ...base, role: 'secondary', systemdVersion: 255 });
    assert.deepEqual(
      [...line(newer, 'RestartSec'), ...line(newer, 'RestartSteps'), ...line(newer, 'RestartMaxDelaySec')],
      ['RestartSec=1s', 'RestartSteps=6', 'RestartMaxDelaySec=60s'],
    );
  });

  it('quotes the words of ExecStart that need it, and doubles %', () => {
    assert.equal(unitWord('--primary'), '--primary');
    assert.equal(unitWord('a b'), '"a b"');
    assert.equal(unitWord('say "hi"'), '"say \\"hi\\""');
    assert.equal(unitWord('100%'), '100%%');
    assert.equal(unitWord('$HOME'), '"$$HOME"');
  });

  it('takes a token out of the unit (readable by every user) into a 0600 file of its own', () => {
    assert.deepEqual(withoutSecrets(['--primary', 'pi0:1', '--token', 's3cret', '--name', 'n'], 'secondary'), {
      args: ['--primary', 'pi0:1', '--name', 'n', '--token-file', '/etc/picluster/secondary.token'],
      secrets: [{ flag: '--token', path: '/etc/picluster/secondary.token', value: 's3cret' }],
    });
    assert.deepEqual(withoutSecrets(['--token=abc'], 'primary').secrets, [
      { flag: '--token', path: '/etc/picluster/primary.token', value: 'abc' },
    ]);
    assert.deepEqual(withoutSecrets(['--token-file', '/etc/t'], 'primary'), {
      args: ['--token-file', '/etc/t'],
      secrets: [],
    });
  });

  it('takes the admin token out of the unit too; refuses a store URL holding a password', () => {
    const admin = 'A'.repeat(24);
    for (const args of [
      ['--web-bind', '0.0.0.0', '--admin-token', admin],
      ['--web-bind', '0.0.0.0', `--admin-token=${admin}`],
    ]) {
      const out = withoutSecrets(args, 'primary');
      assert.deepEqual(out.args, ['--web-bind', '0.0.0.0', '--admin-token-file', '/etc/picluster/primary.admin-token']);
      assert.deepEqual(out.secrets, [
        { flag: '--admin-token', path: '/etc/picluster/primary.admin-token', value: admin },
      ]);
      assert.ok(!serviceUnit({ ...base, role: 'primary', args: out.args }).includes(admin));
    }
    assert.throws(
      () => withoutSecrets(['--store', 'postgres://pc:hunter2@db/pc'], 'primary'),
      /--store holds a password.*--config FILE/,
    );
    assert.throws(
      () => withoutSecrets(['--influx-url=http://u:p@influx:8086'], 'primary'),
      /--influx-url holds a password/,
    );
    assert.deepEqual(withoutSecrets(['--store', 'postgres://db/pc'], 'primary').args, ['--store', 'postgres://db/pc']);
  });

  it('lets the agent join the video group (vcgencmd) when asked, never as root', () => {
    const unit = serviceUnit({ ...base, role: 'secondary', groups: ['video'] });
    assert.deepEqual(line(unit, 'SupplementaryGroups'), ['SupplementaryGroups=video']);
    assert.deepEqual(line(serviceUnit({ ...base, role: 'secondary' }), 'SupplementaryGroups'), []);
    assert.deepEqual(
      line(serviceUnit({ ...base, role: 'secondary', machineTasks: true, groups: ['video'] }), 'SupplementaryGroups'),
      [],
    );
  });

  it('passes systemd-analyze verify', (t) => {
    const tools = requirePrograms(t, ['systemd-analyze'], 'apt-get install systemd');
    if (!tools) return;
    const dir = mkdtempSync(join(tmpdir(), 'unit-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const role of ['primary', 'secondary'] as const) {
      const file = join(dir, `picluster-${role}.service`);
      writeFileSync(file, serviceUnit({ ...base, role, args: ['--labels', 'a=b c'] }));
      // Exit 0 and nothing said (warnings go to stderr): no unknown key, no bad value.
      const verify: SpawnSyncReturns<string> = spawnSync(tools['systemd-analyze'] as string, ['verify', file], {
        encoding: 'utf8',
      });
      assert.equal(verify.status, 0, verify.stderr);
      assert.equal(`${verify.stdout}${verify.stderr}`.trim(), '');
    }
  });
});
