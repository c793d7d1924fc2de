// The one-line join: `picluster join-command` prints a line; exactly that line, run on a new node,
// joins it with the name and labels asked for; run again it joins again (its own node secret);
// a second machine cannot use the spent code.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import { CLI, getNodes, nodesOnline, runCli, startPrimary, tempDir, waitUntil } from '../helpers/cluster.js';

const TSX = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).pathname;

/** Runs a printed `picluster ...` line as it is, in `cwd` (the new node's working directory). */
function runLine(t: TestContext, line: string, cwd: string): { child: ChildProcess; output: () => string } {
  const words = line.trim().split(' ');
  assert.equal(words[0], 'picluster');
  const chunks: string[] = [];
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...words.slice(1)], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.setEncoding('utf8').on('data', (d: string) => chunks.push(d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => chunks.push(d));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => chunks.join('') };
}

it('a node started with exactly the printed line joins; the line pasted twice is harmless; a spent code lets no one else in', async (t) => {
  const dir = tempDir(t);
  const primary = await startPrimary(t, { dataDir: join(dir, 'p') });
  const asked = [
    'join-command',
    '--name',
    'edge-7',
    '--labels',
    'site=roof',
    '--host',
    '127.0.0.1',
    '--api',
    primary.api,
  ];
  const printed = await runCli(asked);
  assert.equal(printed.code, 0, printed.stderr);
  const line = printed.stdout.trim();
  assert.match(
    line,
    /^picluster secondary --primary 127\.0\.0\.1:\d+ --primary-fingerprint sha256:[0-9a-f]{64} --token [0-9a-f]{32} --name edge-7 --labels site=roof$/,
  );
  assert.match(printed.stderr, /the code lets 1 node join until/);

  const machine = join(dir, 'edge-7');
  mkdirSync(machine);
  const first = runLine(t, line, machine);
  await nodesOnline(primary.api, ['edge-7']);
  const [joined] = (await getNodes(primary.api)).filter((n) => n.name === 'edge-7');
  assert.deepEqual(joined?.labels, { site: 'roof' });

  // Pasted again on the same machine: the node proves its own secret; the code is not needed.
  first.child.kill('SIGTERM');
  await once(first.child, 'exit');
  await waitUntil(
    async () => (await getNodes(primary.api)).find((n) => n.name === 'edge-7' && n.state === 'left'),
    10_000,
    'edge-7 left',
  );
  runLine(t, line, machine);
  await nodesOnline(primary.api, ['edge-7']);
  assert.deepEqual(
    (await getNodes(primary.api)).filter((n) => n.name === 'edge-7').map((n) => n.id),
    [joined?.id],
  );

  // Another machine with the same (spent) line is refused, and says so.
  const other = join(dir, 'intruder');
  mkdirSync(other);
  const refused = runLine(t, line, other);
  await waitUntil(() => /authentication failed/.test(refused.output()), 15_000, 'the refusal on the other machine');
  assert.equal((await getNodes(primary.api)).filter((n) => n.name === 'edge-7').length, 1);

  const service = await runCli([...asked, '--install-service', '--uses', '3', '--ttl', '30m']);
  assert.match(service.stdout, /^sudo picluster install-service secondary -- --primary 127\.0\.0\.1:\d+ /);
  assert.match(service.stderr, /lets 3 nodes join/);
  const bad = await runCli(['join-command', '--ttl', 'soon', '--api', primary.api]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--ttl soon: a duration like "1h"/);
});
