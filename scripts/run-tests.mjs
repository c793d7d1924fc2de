#!/usr/bin/env node
// Runs the node:test suites: `node scripts/run-tests.mjs [DIR_OR_FILE...]` (default: test/).
// Node 20's `--test` takes no globs, so this finds the *.test.ts files and hands them over.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(path) {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const full = join(path, entry.name);
      if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : findTests(full);
      return entry.name.endsWith('.test.ts') ? [full] : [];
    });
}

const roots = process.argv.slice(2);
const files = (roots.length ? roots : ['test']).flatMap(findTests);
if (files.length === 0) {
  console.error(`no *.test.ts files under ${roots.join(' ')}`);
  process.exit(1);
}
// The primary's vitals commit window is two minutes by default (issue 16): the suites wait for acks
// and stored rows, so the daemons they start (which inherit this environment) commit within
// 250 ms unless the caller says otherwise; a test of the default window unsets it for its own.
const env = { ...process.env, PICLUSTER_VITALS_COMMIT_MS: process.env.PICLUSTER_VITALS_COMMIT_MS || '250' };
const result = spawnSync(
  process.execPath,
  // A file runs as one test too: tasks.test.ts's nine real-process tests take ~115 s on a busy
  // 2-core CI (its file timed out at 120 s once the HA suite ran beside it).
  ['--import', 'tsx', '--test', '--test-timeout=180000', '--test-concurrency=2', ...files],
  { stdio: 'inherit', env },
);
process.exit(result.status ?? 1);
