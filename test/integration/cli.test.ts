// The picluster command itself: help and version, one clear line with exit 2 for bad input, and
// the installed launcher (bin/picluster) starting node with the agent's flags.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir, waitUntil } from '../helpers/cluster.js';

const BIN = new URL('../../bin/picluster', import.meta.url).pathname;
const BUILT = new URL('../../dist/cli/main.js', import.meta.url).pathname;

describe('picluster CLI', () => {
  it('has --help on every command and --version', async () => {
    for (const command of [[], ['primary'], ['secondary'], ['up'], ['status']]) {
      const { code, stdout } = await runCli([...command, '--help']);
      assert.equal(code, 0, `picluster ${command.join(' ')} --help`);
      assert.match(stdout, /Usage: picluster/);
    }
    const help = await runCli(['primary', '--help']);
    assert.match(
      help.stdout,
      /--heartbeat-interval-ms <MS>[\s\S]*?default:\s+5000[\s\S]*?PICLUSTER_HEARTBEAT_INTERVAL_MS/,
    );
    const version = await runCli(['--version']);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
  });

  it('bad input: one line saying what and where, exit code 2', async () => {
    const badPort = await runCli(['primary', '--port', 'abc']);
    assert.equal(badPort.code, 2);
    assert.equal(badPort.stderr.trim(), 'picluster: invalid port = "abc" (from flag --port): expected a number');
    const badEnv = await runCli(['primary'], { PICLUSTER_WEB_PORT: '99999' });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr.trim(), /^picluster: invalid webPort = 99999 \(from environment PICLUSTER_WEB_PORT\)/);
    const noFile = await runCli(['primary', '--config', '/nonexistent/picluster.toml']);
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr.trim(), /^picluster: cannot read config file \/nonexistent\/picluster.toml/);
    const unknownFlag = await runCli(['primary', '--prot', '1']);
    assert.equal(unknownFlag.code, 2);
    assert.match(unknownFlag.stderr, /unknown option '--prot'/);
    const noPrimary = await runCli(['secondary']);
    assert.equal(noPrimary.code, 2);
    assert.match(noPrimary.stderr, /no primary given/);
  });

  it('status says clearly when the API is not there', async () => {
    const { code, stderr } = await runCli(['status', '--api', 'http://127.0.0.1:9']);
    assert.equal(code, 1);
    assert.match(stderr, /cannot reach the primary API at http:\/\/127\.0\.0\.1:9\/api\/nodes/);
  });

  it('bin/picluster runs the built CLI, through a symlink too; an agent alone gets --no-turbofan, as node itself', async (t) => {
    // The launcher starts dist/, which `npm install` builds (prepare); CI runs from a fresh one.
    if (!existsSync(BUILT)) {
      if (process.env.CI === 'true') assert.fail(`${BUILT} missing: npm ci should have built it`);
      t.skip('dist/ not built (npm run build)');
      return;
    }
    const version = (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
    const dir = tempDir(t);
    const link = join(dir, 'picluster'); // as npm links it into node_modules/.bin
    symlinkSync(BIN, link);
    for (const command of [BIN, link]) {
      const out = await new Promise<string>((resolve, reject) =>
        execFile(command, ['--version'], (err, stdout) => (err ? reject(err) : resolve(stdout))),
      );
      assert.equal(out.trim(), version, command);
    }
    /** The command line of a `picluster secondary` started by the launcher (then stopped). */
    const agentCommandLine = async (env: Record<string, string>) => {
      const agent = spawn(link, ['secondary', '--primary', '127.0.0.1:1', '--data-dir', join(dir, 'node')], {
        env: { ...process.env, ...env },
        stdio: 'ignore',
      });
      t.after(() => agent.kill('SIGKILL'));
      // exec: the pid is node's own, no shell left in between.
      const argv = await waitUntil(
        () => {
          const words = readFileSync(`/proc/${agent.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
          return words.some((w) => w.endsWith('dist/cli/main.js')) ? words : undefined;
        },
        10_000,
        'node running the CLI',
      );
      assert.equal(readFileSync(`/proc/${agent.pid}/comm`, 'utf8').trim(), 'node');
      agent.kill('SIGTERM');
      return argv;
    };
    const flags = (argv: string[]) =>
      argv.slice(
        1,
        argv.findIndex((w) => w.endsWith('dist/cli/main.js')),
      );
    assert.deepEqual(flags(await agentCommandLine({})), ['--no-turbofan']);
    assert.deepEqual(flags(await agentCommandLine({ PICLUSTER_NODE_FLAGS: '' })), []);
    assert.deepEqual(flags(await agentCommandLine({ PICLUSTER_NODE_FLAGS: '--jitless --max-old-space-size=64' })), [
      '--jitless',
      '--max-old-space-size=64',
    ]);
  });
});

describe('picluster install-service', () => {
  it('--dry-run prints the unit; without systemd as PID 1 it says so in one line and exits 1; a bad role exits 2', async () => {
    const token = 'c0de0123456789abcdef';
    const dry = await runCli([
      'install-service',
      'secondary',
      '--dry-run',
      '--',
      '--primary',
      'pi0:12345',
      '--token',
      token,
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(
      dry.stdout,
      /^ExecStart=\S+ --no-turbofan \S+\/dist\/cli\/main\.js secondary --data-dir \/var\/lib\/picluster\/secondary --primary pi0:12345 --token-file \/etc\/picluster\/secondary\.token$/m,
    );
    assert.doesNotMatch(dry.stdout, new RegExp(token), 'the token stays out of the unit');
    assert.match(dry.stderr, /the token would go to \/etc\/picluster\/secondary\.token \(0600/);
    assert.match(dry.stdout, /^\[Install\]$/m);
    const pid1 = existsSync('/proc/1/comm') ? readFileSync('/proc/1/comm', 'utf8').trim() : '';
    if (pid1 !== 'systemd') {
      const real = await runCli(['install-service', 'primary']);
      assert.equal(real.code, 1);
      assert.equal(real.stderr.trim().split('\n').length, 1, real.stderr);
      assert.match(
        real.stderr,
        /^picluster: systemd is not PID 1 here \(PID 1 is .+\): install-service needs a systemd machine/,
      );
      const remove = await runCli(['uninstall-service', 'primary']);
      assert.equal(remove.code, 1);
      assert.match(remove.stderr, /systemd is not PID 1 here/);
    }
    const bad = await runCli(['install-service', 'database', '--dry-run']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /ROLE is primary or secondary, not "database"/);
  });
});

describe('bin/picluster on an old Node.js', () => {
  it('stops with one line naming the version found, before node sees a flag it does not know', async (t) => {
    const dir = tempDir(t);
    // A `node` that says it is 18 (and would fail on anything else).
    writeFileSync(join(dir, 'node'), '#!/bin/sh\nif [ "$1" = --version ]; then echo v18.19.1; exit 0; fi\nexit 3\n', {
      mode: 0o755,
    });
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        BIN,
        ['secondary', '--help'],
        { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } },
        (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^picluster: picluster needs Node\.js 20\.15\+ \(20\.x\) or 22\.2\+; this is Node\.js 18\.19\.1 /,
    );
    assert.equal(result.stderr.trim().split('\n').length, 1);
  });

  it('lets 20.15, 22.2 and later through to node', async (t) => {
    for (const ok of ['20.15.0', '22.2.0', '24.0.0']) {
      const dir = tempDir(t);
      // Past the check, the launcher execs this `node`, which ends with 3.
      writeFileSync(join(dir, 'node'), `#!/bin/sh\nif [ "$1" = --version ]; then echo v${ok}; exit 0; fi\nexit 3\n`, {
        mode: 0o755,
      });
      const code = await new Promise<number | null>((resolve) => {
        execFile(BIN, ['status'], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } }, (err) =>
          resolve(err ? ((err as { code?: number }).code ?? 1) : 0),
        );
      });
      assert.equal(code, 3, ok);
    }
  });

  for (const old of ['20.14.0', '21.7.3', '22.1.0'])
    it(`stops Node.js ${old} (no zlib.crc32) the same way`, async (t) => {
      const dir = tempDir(t);
      writeFileSync(join(dir, 'node'), `#!/bin/sh\nif [ "$1" = --version ]; then echo v${old}; exit 0; fi\nexit 3\n`, {
        mode: 0o755,
      });
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(
          BIN,
          ['status'],
          { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } },
          (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
        );
      });
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        new RegExp(
          `^picluster: picluster needs Node\\.js 20\\.15\\+ \\(20\\.x\\) or 22\\.2\\+; this is Node\\.js ${old.replaceAll('.', '\\.')} `,
        ),
      );
    });
});
