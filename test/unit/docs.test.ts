// The README must say what the code does: its configuration table is generated from the settings
// table, and its library example is the code of test/integration/library-example.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { configTable } from '../../scripts/config-table.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

it('README opens with the two commands', () => {
  assert.match(readme, /^# picluster\n\n```\nnpm install && npm start\nnpm test\n```/);
});

it('README configuration table matches the settings table', () => {
  const section = readme.split('<!-- config-table start -->\n')[1]?.split('\n<!-- config-table end -->')[0];
  assert.equal(section, configTable(), 'regenerate with: node --import tsx scripts/config-table.ts');
});

it('README library example is the tested one', () => {
  const test = readFileSync(new URL('../integration/library-example.test.ts', import.meta.url), 'utf8');
  const code = test.split('// --- README example start\n')[1]?.split('  // --- README example end')[0] ?? '';
  const dedented = code
    .trimEnd()
    .split('\n')
    .map((l) => (l.startsWith('  ') ? l.slice(2) : l))
    .join('\n');
  assert.ok(readme.includes(dedented), 'README library example differs from the test');
});

it('README alerts example is a config the primary takes', async (t) => {
  const { parse } = await import('smol-toml');
  const { alertsConfigOf } = await import('../../src/alerts/alerts-config.js');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const toml = readme
    .split('<!-- alerts-example start -->\n```toml\n')[1]
    ?.split('```\n<!-- alerts-example end -->')[0];
  assert.ok(toml, 'the example is between its markers');
  // Its secret files, made for the check.
  const dir = mkdtempSync(join(tmpdir(), 'readme-alerts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const secret = join(dir, 'secret');
  writeFileSync(secret, 'a-secret-of-the-example\n');
  const doc = parse(toml.replace(/(\w+File) = "[^"]+"/g, (_, key) => `${key} = "${secret}"`)) as { alerts: unknown };
  const config = alertsConfigOf(doc.alerts);
  assert.deepEqual(
    config.rules.map((r) => r.name),
    ['cpu-hot', 'camera-disk', 'backup-failed', 'clock-off'],
  );
  assert.deepEqual(Object.keys(config.channels), ['ops-hook', 'phone', 'mail']);
});
