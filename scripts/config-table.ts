// Prints the README's configuration table from the settings table (the one place defaults live).
// `node --import tsx scripts/config-table.ts`; a unit test checks the README holds its output.
import { envNameOf, SETTINGS, usageOf } from '../src/cli/settings.js';

export function configTable(): string {
  const rows = SETTINGS.map((s) => {
    const def = s.default === undefined ? '—' : typeof s.default === 'object' ? '—' : `\`${String(s.default)}\``;
    return `| \`${s.key}\` | \`${usageOf(s)}\` | \`${envNameOf(s.key)}\` | ${def} | ${s.roles.join(', ')} | ${s.description} |`;
  });
  return [
    '| key (TOML) | flag | environment | default | used by | meaning |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(configTable());
