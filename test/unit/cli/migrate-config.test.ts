// `picluster migrate-config`: the original rpicluster.cfg becomes a TOML file that picluster's own
// config loader accepts with the same settings; what cannot be carried over is said on stderr.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { loadConfig } from '../../../src/cli/config.js';
import { migrateConfig, parseIni, runMigrateConfig } from '../../../src/cli/migrate-config.js';
import { runCli } from '../../helpers/cluster.js';

/** The original file as the Python tutorial ships it (LEGACY-PROTOCOL.md). */
const ORIGINAL = `[node_config]
node_type = raspberrypi

[primary]
socket_port = 12345
socket_bind_ip =
influxdb_host = localhost
influxdb_port = 8086
influxdb_database_prefix = rpi_cluster_

[secondary]
socket_port = 12345
primary_ip = 127.0.0.1

[webserver]
webserver_port = 8123
webserver_host = localhost
`;

const dir = mkdtempSync(join(tmpdir(), 'picluster-migrate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function loadToml(toml: string, roles: Array<'primary' | 'secondary'>) {
  const file = join(dir, `config-${Math.random().toString(16).slice(2)}.toml`);
  writeFileSync(file, toml);
  return loadConfig({ roles, flags: { config: file }, env: {} });
}

describe('migrateConfig', () => {
  it('carries every setting of the original file over, and picluster loads the result', () => {
    const { toml, warnings } = migrateConfig(ORIGINAL);
    assert.deepEqual(warnings, []);
    assert.deepEqual(JSON.parse(JSON.stringify(parse(toml))), {
      port: 12345,
      bind: '0.0.0.0',
      webPort: 8123,
      webBind: '127.0.0.1',
      primary: ['127.0.0.1:12345'],
      legacy: true,
      influx: { url: 'http://localhost:8086', layout: 'legacy', legacyPrefix: 'rpi_cluster_' },
    });
    assert.match(toml, /^# node_type = raspberrypi: .*Pi temperature/m);
    const config = loadToml(toml, ['primary', 'secondary']);
    assert.equal(config.port, 12345);
    assert.equal(config.bind, '0.0.0.0');
    assert.equal(config.webPort, 8123);
    assert.equal(config.webBind, '127.0.0.1');
    assert.deepEqual(config.primary, ['127.0.0.1:12345']);
    assert.equal(config.legacy, true);
    assert.deepEqual(config.influx, {
      url: 'http://localhost:8086',
      layout: 'legacy',
      database: 'picluster',
      legacyPrefix: 'rpi_cluster_',
    });
  });

  it("reads the file as Python's configparser does", () => {
    const { sections, warnings } = parseIni(
      [
        '# a comment',
        '[DEFAULT]',
        'socket_port = 4000',
        '[primary]',
        'Socket_Bind_IP : 10.0.0.1',
        '; another comment',
        'influxdb_host = influx.lan',
        'influxdb_database_prefix = %(influxdb_host)s_%%_',
        '[secondary]',
        'primary_ip = 10.0.0.1',
      ].join('\r\n'),
    );
    assert.deepEqual(warnings, []);
    const primary = sections.get('primary');
    assert.equal(primary?.get('socket_bind_ip')?.value, '10.0.0.1');
    assert.equal(primary?.get('socket_port')?.value, '4000', '[DEFAULT] applies to every section');
    assert.equal(primary?.get('influxdb_database_prefix')?.value, 'influx.lan_%_');
    assert.equal(sections.get('secondary')?.get('socket_port')?.value, '4000');
  });

  it('says on stderr what it does not carry over, never silently', () => {
    const { toml, warnings } = migrateConfig(
      `${ORIGINAL}\n[primary]\ncolour = blue\n[extras]\nfoo = 1\n[webserver]\nwebserver_port = eighty\nnot a key line\n`,
    );
    assert.ok(
      warnings.some((w) => /\[primary\] colour is unknown/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(warnings.some((w) => /section \[extras\] is unknown.*foo/.test(w)));
    assert.ok(warnings.some((w) => /webserver_port = eighty is not a port/.test(w)));
    assert.ok(warnings.some((w) => /not "key = value", ignored: not a key line/.test(w)));
    assert.ok(warnings.some((w) => /appears twice/.test(w)));
    assert.equal((parse(toml) as { webPort?: number }).webPort, undefined);
  });

  it('keeps other hosts as they are and brackets IPv6 addresses', () => {
    const { toml } = migrateConfig(
      '[primary]\nsocket_port = 2000\nsocket_bind_ip = 192.168.1.2\n[secondary]\nsocket_port = 2001\nprimary_ip = fd00::1\n[webserver]\nwebserver_host = 0.0.0.0\n[node_config]\nnode_type = generic\n',
    );
    const doc = parse(toml) as Record<string, unknown>;
    assert.equal(doc.bind, '192.168.1.2');
    assert.deepEqual(doc.primary, ['[fd00::1]:2001']);
    assert.equal(doc.webBind, '0.0.0.0');
    assert.equal(doc.influx, undefined);
    assert.match(toml, /^# node_type = generic: /m);
    assert.deepEqual(loadToml(toml, ['secondary']).primary, ['[fd00::1]:2001']);
  });
});

describe('runMigrateConfig', () => {
  const capture = () => {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    return { stream, text: () => text };
  };

  it('prints to stdout, warnings to stderr', () => {
    const file = join(dir, 'rpicluster.cfg');
    writeFileSync(file, ORIGINAL.replace('[secondary]', 'extra = 1\n[secondary]'));
    const out = capture();
    const err = capture();
    assert.equal(runMigrateConfig(file, { stdout: out.stream, stderr: err.stream }), 0);
    assert.match(out.text(), /^port = 12345$/m);
    assert.equal(err.text().trim().split('\n').length, 1);
    assert.match(err.text(), /warning: .*\[primary\] extra is unknown/);
  });

  it('writes --out once and never overwrites it', () => {
    const file = join(dir, 'original.cfg');
    writeFileSync(file, ORIGINAL);
    const out = join(dir, 'picluster.toml');
    assert.equal(runMigrateConfig(file, { out, stderr: capture().stream }), 0);
    assert.equal(readFileSync(out, 'utf8'), migrateConfig(ORIGINAL, file).toml);
    const err = capture();
    assert.equal(runMigrateConfig(file, { out, stderr: err.stream }), 2);
    assert.match(err.text(), /^picluster: cannot write .*picluster\.toml: EEXIST/);
  });

  it('exits 2 with one line when the file cannot be read (through the CLI)', async () => {
    const result = await runCli(['migrate-config', join(dir, 'missing.cfg')]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^picluster: cannot read .*missing\.cfg: ENOENT[^\n]*\n$/);
  });
});
