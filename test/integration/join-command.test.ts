// The one-line join: `picluster join-command` prints a line; exactly that line, run on a new node,
// joins it with the name and labels asked for; run again it joins again (its own node secret);
// a second machine cannot use the spent code.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import {
  apiJson,
  CLI,
  freePort,
  getNodes,
  nodesOnline,
  runCli,
  startPrimary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';
import { tmuxServer } from '../helpers/tmux.js';

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
  // Recorded in the events log as the operator's act, without the code.
  const code = line.split('--token ')[1]?.split(' ')[0] as string;
  type Events = { events: Array<{ type: string; uses?: number; by?: string | null }> };
  const events = await apiJson<Events>(primary.api, 'GET', '/api/events');
  assert.deepEqual(
    events.events.filter((e) => e.type === 'join-code').map((e) => [e.uses, e.by]),
    [[1, '127.0.0.1']],
  );
  assert.doesNotMatch(JSON.stringify(events), new RegExp(code));

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
  // An IPv6 host is bracketed, as --primary reads it.
  const v6 = await runCli([...asked, '--host', 'fd00::10']);
  assert.match(v6.stdout, / --primary '\[fd00::10\]:\d+' /);
  const bad = await runCli(['join-command', '--ttl', 'soon', '--api', primary.api]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--ttl soon: a duration like "1h"/);
});

it('a first start on a terminal prints the exact line that joins a node, which does', async (t) => {
  const tmux = tmuxServer(t, 'first');
  if (!tmux) return;
  const dir = tempDir(t);
  const [port, webPort] = [await freePort(), await freePort()];
  const api = `http://127.0.0.1:${webPort}`;
  const flags = `--bind 127.0.0.1 --port ${port} --web-port ${webPort} --data-dir ${join(dir, 'p')}`;
  tmux(
    'new-session',
    '-d',
    '-s',
    'first',
    '-x',
    '250',
    '-y',
    '50',
    `${process.execPath} --import ${TSX} ${CLI} primary ${flags}`,
  );
  const line = await waitUntil(
    () =>
      /^ {2}(picluster secondary --primary 127\.0\.0\.1:\d+ --primary-fingerprint sha256:[0-9a-f]{64} --token [0-9a-f]{32})$/m.exec(
        tmux('capture-pane', '-p', '-J', '-t', 'first'),
      )?.[1],
    20_000,
    'the join line on the terminal',
  );
  const machine = join(dir, 'first-node');
  mkdirSync(machine);
  runLine(t, `${line} --name first-node`, machine);
  await nodesOnline(api, ['first-node']);
  // The code is on the terminal once, in that line: no log line of the primary carries it.
  const code = line.split('--token ')[1] as string;
  assert.equal(tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'first').split(code).length - 1, 1);
});
