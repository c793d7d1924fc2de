import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { loadConfig } from '../../../src/cli/config.js';
import { envNameOf, flagOf } from '../../../src/cli/settings.js';
import { ConfigError } from '../../../src/protocol/errors.js';

function file(t: TestContext, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'picluster.toml');
  writeFileSync(path, text);
  return path;
}

const configError = (pattern: RegExp) => (err: unknown) => err instanceof ConfigError && pattern.test(err.message);

describe('configuration', () => {
  it('names env variables and flags after the keys', () => {
    assert.equal(envNameOf('heartbeat.intervalMs'), 'PICLUSTER_HEARTBEAT_INTERVAL_MS');
    assert.equal(flagOf('webBind'), '--web-bind');
    assert.equal(flagOf('heartbeat.intervalMs'), '--heartbeat-interval-ms');
  });

  it('uses the documented defaults', () => {
    const c = loadConfig({ roles: ['primary'], env: {} });
    assert.deepEqual(
      [c.port, c.bind, c.webPort, c.webBind, c.dataDir, c.heartbeatIntervalMs, c.vitalsPeriodMs, c.maxFrameBytes],
      [12345, '0.0.0.0', 8123, '127.0.0.1', './data', 5000, 10000, 1048576],
    );
  });

  it('layers defaults < file < environment < flags', (t) => {
    const config = file(t, 'port = 1001\nwebPort = 2001\n[heartbeat]\nintervalMs = "2s"\n[vitals]\nperiodMs = 3000\n');
    const c = loadConfig({
      roles: ['primary', 'secondary'],
      env: { PICLUSTER_CONFIG: config, PICLUSTER_WEB_PORT: '2002', PICLUSTER_VITALS_PERIOD_MS: '4s' },
      flags: { vitalsPeriodMs: '5000' },
    });
    assert.deepEqual([c.port, c.webPort, c.heartbeatIntervalMs, c.vitalsPeriodMs], [1001, 2002, 2000, 5000]);
  });

  it('turns TLS off with --no-tls and reads the TLS files as flat keys or a [tls] table', (t) => {
    assert.equal(loadConfig({ roles: ['primary'], env: {} }).tls, true);
    // commander hands `tls: true` when --no-tls is absent: that is "not given", not an override.
    const off = file(t, 'tls = false\n');
    assert.equal(loadConfig({ roles: ['primary'], env: {}, flags: { config: off, tls: true } }).tls, false);
    assert.equal(loadConfig({ roles: ['primary'], env: {}, flags: { tls: false } }).tls, false);
    assert.equal(loadConfig({ roles: ['primary'], env: { PICLUSTER_TLS: 'false' } }).tls, false);
    const table = file(t, '[tls]\nenabled = true\ncertFile = "/c.pem"\nkeyFile = "/k.pem"\nclientCaFile = "/ca.pem"\n');
    const c = loadConfig({ roles: ['primary'], env: {}, flags: { config: table } });
    assert.deepEqual([c.tls, c.tlsCertFile, c.tlsKeyFile, c.tlsClientCaFile], [true, '/c.pem', '/k.pem', '/ca.pem']);
    const both = file(t, 'tlsCaFile = "/a.pem"\n[tls]\ncaFile = "/b.pem"\n');
    assert.throws(
      () => loadConfig({ roles: ['secondary'], env: { PICLUSTER_PRIMARY: 'p:1' }, flags: { config: both } }),
      configError(/sets both tls\.caFile and tlsCaFile/),
    );
  });

  it('parses sizes, lists and labels', () => {
    const c = loadConfig({
      roles: ['primary', 'secondary'],
      env: { PICLUSTER_MAX_FRAME_BYTES: '2MiB' },
      flags: { primary: 'a:1,b:2', labels: 'rack=3, role=db' },
    });
    assert.deepEqual(
      [c.maxFrameBytes, c.primary, c.labels],
      [2 * 1024 * 1024, ['a:1', 'b:2'], { rack: '3', role: 'db' }],
    );
  });

  it('rejects a bad value with one line naming key, value and source', () => {
    assert.throws(
      () => loadConfig({ roles: ['primary'], env: { PICLUSTER_PORT: '70000' } }),
      configError(/^invalid port = 70000 \(from environment PICLUSTER_PORT\): /),
    );
    assert.throws(
      () => loadConfig({ roles: ['primary'], env: {}, flags: { heartbeatIntervalMs: 'soon' } }),
      configError(/heartbeat\.intervalMs = "soon" \(from flag --heartbeat-interval-ms\): expected milliseconds/),
    );
  });

  it('rejects unknown keys, unreadable files and bad TOML, naming the file', (t) => {
    const unknown = file(t, 'prot = 1\n');
    assert.throws(
      () => loadConfig({ roles: ['primary'], env: {}, flags: { config: unknown } }),
      configError(/unknown key "prot" in config file/),
    );
    assert.throws(
      () => loadConfig({ roles: ['primary'], env: {}, flags: { config: '/nonexistent/x.toml' } }),
      configError(/cannot read config file \/nonexistent\/x.toml/),
    );
    const broken = file(t, 'port = = 1\n');
    assert.throws(
      () => loadConfig({ roles: ['primary'], env: {}, flags: { config: broken } }),
      configError(/is not valid TOML/),
    );
  });

  it('reads the token from a file and says so when it cannot', (t) => {
    const tokenFile = file(t, 'a-token-that-is-long-enough\n');
    assert.equal(
      loadConfig({ roles: ['secondary'], env: {}, flags: { primary: 'h:1', tokenFile } }).token,
      'a-token-that-is-long-enough',
    );
    assert.throws(
      () => loadConfig({ roles: ['secondary'], env: {}, flags: { primary: 'h:1', tokenFile: '/nonexistent' } }),
      configError(/cannot read the token file/),
    );
  });

  it('refuses a token shorter than 16 characters from a file, as from a flag', (t) => {
    for (const tokenFile of [file(t, 'short\n'), '/dev/null']) {
      assert.throws(
        () => loadConfig({ roles: ['secondary'], env: {}, flags: { primary: 'h:1', tokenFile } }),
        configError(new RegExp(`the token file ${tokenFile} holds \\d+ characters; a cluster token needs at least 16`)),
      );
    }
    assert.throws(() => loadConfig({ roles: ['primary'], env: {}, flags: { token: 'short' } }), configError(/token/));
  });

  it('a secondary needs a primary address', () => {
    assert.throws(() => loadConfig({ roles: ['secondary'], env: {} }), configError(/no primary given/));
  });

  it('refuses prototype keys in labels', () => {
    assert.throws(
      () => loadConfig({ roles: ['secondary'], env: {}, flags: { primary: 'h:1', labels: '__proto__=x' } }),
      ConfigError,
    );
  });

  it('reads the legacy and limits settings, flat or from a [legacy] table, and refuses a bad range or a rate below 64', (t) => {
    const config = file(t, 'legacy = true\n[limits]\nmaxNodes = 50\n');
    const flat = loadConfig({
      roles: ['primary'],
      env: { PICLUSTER_CONFIG: config },
      flags: { legacyAllow: '10.1.0.0/16,fd00::/8' },
    });
    assert.deepEqual([flat.legacy, flat.legacyAllow, flat.limits.maxNodes], [true, ['10.1.0.0/16', 'fd00::/8'], 50]);
    const table = file(t, '[legacy]\nenabled = true\nallow = ["192.168.1.0/24"]\nidleMs = "5m"\n');
    const c = loadConfig({ roles: ['primary'], env: { PICLUSTER_CONFIG: table } });
    assert.deepEqual([c.legacy, c.legacyAllow, c.legacyIdleMs], [true, ['192.168.1.0/24'], 300_000]);
    assert.throws(
      () => loadConfig({ roles: ['primary'], env: {}, flags: { legacyAllow: '10.0.0.0/33' } }),
      configError(/legacyAllow: "10\.0\.0\.0\/33" is not an address or a CIDR range/),
    );
    assert.throws(
      () => loadConfig({ roles: ['primary'], env: {}, flags: { limitsSamplesPerSecond: '10' } }),
      configError(/limits\.samplesPerSecond = 10 .*must be >= 64/),
    );
  });
});
