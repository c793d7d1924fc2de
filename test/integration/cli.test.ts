// The picluster command itself: help and version, and one clear line with exit 2 for bad input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cluster.js';

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
});
