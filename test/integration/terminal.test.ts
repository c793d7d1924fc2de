// `picluster status --watch` and `picluster events --follow` in a real terminal (tmux): what is on
// the screen as a node joins and dies, state colours included, and Ctrl-C ending them with exit 0.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { CLI, nodesOnline, runCli, startPrimary, startSecondary, tempDir, waitUntil } from '../helpers/cluster.js';
import { tmuxServer } from '../helpers/tmux.js';

it('status --watch redraws with state colours and events --follow prints a death as it happens; Ctrl-C exits 0', async (t) => {
  const tmux = tmuxServer(t, 'watch');
  if (!tmux) return;
  const dir = tempDir(t);
  const primary = await startPrimary(t, { dataDir: join(dir, 'p') });
  const node = startSecondary(t, primary, { dataDir: join(dir, 'n'), name: 'pi-watch' });
  await nodesOnline(primary.api, ['pi-watch']);

  // The shell says how the command ended, and keeps the pane for the test to read it.
  const cli = (args: string) =>
    `${process.execPath} --import tsx ${CLI} ${args} --api ${primary.api}; echo EXIT=$?; sleep 600`;
  tmux('new-session', '-d', '-s', 'watch', '-x', '160', '-y', '30', cli('status --watch --interval 300'));
  tmux('new-session', '-d', '-s', 'follow', '-x', '160', '-y', '30', cli('events --follow'));
  // -e keeps the colours (escape sequences) in the capture.
  const screen = (session: string) => tmux('capture-pane', '-p', '-e', '-t', session);
  const lineOf = (text: string, name: string) => text.split('\n').find((l) => l.includes(name)) ?? '';

  // nodes show: one node in full, by name; an unknown one says how to find it.
  const shown = await runCli(['nodes', 'show', 'pi-watch', '--api', primary.api]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^name {13}pi-watch$/m);
  assert.match(shown.stdout, /^state {12}online$/m);
  assert.match(shown.stdout, /^version {10}\S+$/m);
  assert.match(shown.stdout, /^open alerts: none$/m);
  assert.match(shown.stdout, /joined$/m);
  const unknown = await runCli(['nodes', 'show', 'pi-nope', '--api', primary.api]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no node with id or name pi-nope \(picluster status lists them\)/);

  const online = await waitUntil(() => lineOf(screen('watch'), 'pi-watch'), 20_000, 'pi-watch on the watch screen');
  assert.match(online, /online/);
  assert.ok(online.includes('\x1b[32m'), 'online in green');
  assert.match(screen('watch'), /picluster status, every 0\.3 s/);
  await waitUntil(() => /joined/.test(lineOf(screen('follow'), 'pi-watch')), 20_000, 'the join in the events');

  node.kill('SIGKILL');
  const lost = await waitUntil(
    () => {
      const line = lineOf(screen('watch'), 'pi-watch');
      return /lost/.test(line) ? line : undefined;
    },
    20_000,
    'pi-watch lost on the watch screen',
  );
  assert.ok(lost.includes('\x1b[31m'), 'lost in red');
  // Redrawn in place: one table on the screen, not one per reading.
  assert.equal(screen('watch').match(/NAME\s+STATE/g)?.length, 1);
  await waitUntil(
    () =>
      screen('follow')
        .split('\n')
        .some((l) => /pi-watch/.test(l) && /lost/.test(l)),
    20_000,
    'the death in the followed events',
  );

  for (const session of ['watch', 'follow']) {
    tmux('send-keys', '-t', session, 'C-c');
    const status = await waitUntil(
      () => /EXIT=(\d+)/.exec(screen(session))?.[1],
      10_000,
      `${session} to end on Ctrl-C`,
    );
    assert.equal(status, '0', `${session} exits 0 on Ctrl-C`);
  }
});
