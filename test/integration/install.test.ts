// The package as a user gets it: `npm pack`, then `npm install` of the tarball into a temp prefix
// without the optional SQLite driver (an agent-only node: no compiler, no native build). Its
// `picluster --version` works, its secondary joins a primary, and its primary says in one line
// how to get the driver.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { fingerprintOf, nodesOnline, startPrimary, tempDir } from '../helpers/cluster.js';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

it('the packed package installs without the SQLite driver; its agent joins, its primary says how to get the driver', async (t) => {
  const dir = tempDir(t, 'picluster-install-');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const packed = await run(npm, ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 << 20 });
  const tarball = join(dir, packed.stdout.trim().split('\n').at(-1) as string);
  assert.ok(existsSync(tarball), `npm pack made ${tarball}`);
  const prefix = join(dir, 'prefix');
  await run(npm, ['install', '--prefix', prefix, '--omit=optional', '--no-audit', '--no-fund', tarball], {
    maxBuffer: 16 << 20,
  });
  assert.equal(existsSync(join(prefix, 'node_modules', 'better-sqlite3')), false, 'the driver is left out');
  const bin = join(prefix, 'node_modules', '.bin', 'picluster');
  assert.equal((await run(bin, ['--version'])).stdout.trim(), VERSION);

  const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
  const agent = spawn(
    bin,
    [
      'secondary',
      '--primary',
      `127.0.0.1:${primary.port}`,
      '--token-file',
      join(primary.dataDir, 'token'),
      '--primary-fingerprint',
      fingerprintOf(primary.dataDir) as string,
      '--data-dir',
      join(dir, 'agent'),
      '--name',
      'agent-only',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.after(() => {
    agent.kill('SIGKILL');
  });
  await nodesOnline(primary.api, ['agent-only']);

  const noDriver = await run(bin, ['primary', '--data-dir', join(dir, 'p2'), '--port', '0', '--web-port', '0']).then(
    () => ({ code: 0, out: '' }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: `${err.stdout}${err.stderr}` }),
  );
  assert.equal(noDriver.code, 1);
  assert.match(
    noDriver.out,
    /the primary needs the SQLite driver \(npm package better-sqlite3\), which this install left out or could not load/,
  );
});
