// One process per data dir, and a database that is not sound is refused, as real processes: a
// second primary (or secondary) on a data dir in use exits 1 with one line naming the dir and the
// process holding it, and the first runs on; a lock left by a SIGKILLed process does not block a
// restart; a primary.db of random bytes, truncated to half, or with its write-ahead log cut
// inside its header stops the primary with exit 1 and a message, its bytes unchanged.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  exitOf,
  freePort,
  getNodes,
  nodeIdOf,
  runCli,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';

/** The lines a refused daemon wrote at level error or fatal (pino's JSON lines). */
function fatalLines(stderr: string): Array<{ level: number; msg: string }> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string })
    .filter((l) => l.level >= 50);
}

const digest = (file: string) =>
  existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : '-';

describe('data dirs', () => {
  it('a second primary on a data dir in use exits 1 naming the dir and the holder; the first runs on; a SIGKILLed holder does not block a restart', async (t) => {
    const dataDir = join(tempDir(t), 'primary');
    const first = await startPrimary(t, { dataDir });
    const second = await runCli([
      'primary',
      '--data-dir',
      dataDir,
      '--bind',
      '127.0.0.1',
      '--port',
      String(await freePort()),
      '--web-port',
      String(await freePort()),
    ]);
    assert.equal(second.code, 1, second.stderr);
    const lines = fatalLines(second.stderr);
    assert.equal(lines.length, 1, second.stderr);
    assert.match(
      lines[0]?.msg ?? '',
      new RegExp(`data dir ${realpathSync(dataDir)} is in use by process ${first.child.pid} \\(picluster primary`),
    );
    assert.ok((await fetch(`${first.api}/healthz`)).ok, 'the first primary is unaffected');

    first.child.kill('SIGKILL');
    await exitOf(first.child);
    const again = await startPrimary(t, { dataDir, port: first.port, webPort: first.webPort });
    assert.ok((await fetch(`${again.api}/healthz`)).ok, 'restarted on the data dir of a SIGKILLed primary');
  });

  it('a second secondary on a data dir in use exits 1 naming the holder; the first stays online; a SIGKILLed one does not block', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    const nodeDir = join(dir, 'node');
    const first = startSecondary(t, primary, { dataDir: nodeDir, name: 'pi-1' });
    await waitUntil(async () => (await getNodes(primary.api)).some((n) => n.state === 'online'), 15_000, 'online');
    const second = await runCli([
      'secondary',
      '--primary',
      `127.0.0.1:${primary.port}`,
      '--data-dir',
      nodeDir,
      '--token-file',
      join(primary.dataDir, 'token'),
    ]);
    assert.equal(second.code, 1, second.stderr);
    assert.match(
      fatalLines(second.stderr)[0]?.msg ?? '',
      new RegExp(`data dir ${realpathSync(nodeDir)} is in use by process ${first.pid} \\(picluster secondary`),
    );
    const id = nodeIdOf(nodeDir);
    const nodes = await getNodes(primary.api);
    assert.deepEqual(
      nodes.map((n) => [n.id, n.state]),
      [[id, 'online']],
    );

    first.kill('SIGKILL');
    await exitOf(first);
    await waitUntil(
      async () => (await getNodes(primary.api)).some((n) => n.state === 'lost'),
      15_000,
      'the killed node lost',
    );
    startSecondary(t, primary, { dataDir: nodeDir, name: 'pi-1' });
    await waitUntil(
      async () => (await getNodes(primary.api)).some((n) => n.id === id && n.state === 'online'),
      15_000,
      'the same node online again from the same data dir',
    );
  });

  it('keeps its files to itself: data dir 0700, database and token 0600; a looser data dir gets one warning', async (t) => {
    const dir = tempDir(t);
    const fresh = await startPrimary(t, { dataDir: join(dir, 'fresh', 'data') });
    await waitUntil(() => existsSync(join(fresh.dataDir, 'primary.db-wal')), 5000, 'the log');
    const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
    assert.deepEqual(
      ['', 'primary.db', 'primary.db-wal', 'primary.db-shm', 'token'].map((f) => mode(join(fresh.dataDir, f))),
      ['700', '600', '600', '600', '600'],
    );
    const open = join(dir, 'open');
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    const loose = await startPrimary(t, { dataDir: open });
    const warnings = loose.child.stderr
      .join('')
      .split('\n')
      .filter((l) => l.includes('readable by other users'));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', new RegExp(open));
    assert.equal(mode(open), '755', 'left as the operator set it');
  });

  it('a primary.db of random bytes, truncated to half, or with its log cut inside its header: exit 1, a message, the bytes unchanged', async (t) => {
    const dir = tempDir(t);
    // A real database with history, and a copy of it with its write-ahead log as a crash leaves it.
    const source = join(dir, 'source');
    const p = await startPrimary(t, { dataDir: source });
    const node = startSecondary(t, p, { dataDir: join(dir, 'node'), name: 'pi-1' });
    await waitUntil(async () => ((await getNodes(p.api))[0]?.vitals?.seq ?? 0) >= 20, 20_000, '20 samples stored');
    node.kill('SIGKILL');
    p.child.kill('SIGKILL');
    await exitOf(p.child);
    await exitOf(node);
    const cases: Array<{ name: string; damage: (db: string) => void; found: RegExp }> = [
      {
        name: 'random bytes',
        damage: (db) => writeFileSync(db, randomBytes(256 * 1024)),
        found: /is not an SQLite database/,
      },
      {
        name: 'truncated to half',
        damage: (db) => {
          // Checkpointed first, so the file itself holds the history; then cut in half.
          const raw = new Database(db);
          raw.pragma('wal_checkpoint(TRUNCATE)');
          raw.close();
          truncateSync(db, Math.floor(readFileSync(db).length / 2 / 4096) * 4096);
        },
        found: /shorter than its own header says|fails SQLite's quick check/,
      },
      {
        name: 'log cut inside its header',
        damage: (db) => truncateSync(`${db}-wal`, 20),
        found: /write-ahead log .* too short to hold its own header/,
      },
    ];
    for (const c of cases) {
      const dataDir = join(dir, c.name.replaceAll(' ', '-'));
      const db = join(dataDir, 'primary.db');
      await startPrimary(t, { dataDir }).then(async (made) => {
        made.child.kill('SIGKILL');
        await exitOf(made.child);
      });
      copyFileSync(join(source, 'primary.db'), db);
      if (existsSync(join(source, 'primary.db-wal'))) copyFileSync(join(source, 'primary.db-wal'), `${db}-wal`);
      c.damage(db);
      const before = [digest(db), digest(`${db}-wal`)];
      const run = await runCli([
        'primary',
        '--data-dir',
        dataDir,
        '--bind',
        '127.0.0.1',
        '--port',
        '0',
        '--web-port',
        '0',
      ]);
      assert.equal(run.code, 1, `${c.name}: ${run.stderr}`);
      const fatal = fatalLines(run.stderr);
      assert.equal(fatal.length, 1, `${c.name}: ${run.stderr}`);
      assert.match(fatal[0]?.msg ?? '', c.found, c.name);
      assert.match(fatal[0]?.msg ?? '', /picluster leaves it untouched: move it aside/);
      assert.deepEqual([digest(db), digest(`${db}-wal`)], before, `${c.name}: the files are unchanged`);
    }
  });
});
