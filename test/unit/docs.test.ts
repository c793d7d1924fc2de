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
