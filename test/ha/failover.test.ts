// High availability end to end (issue 17): a real 3-member etcd, a real PostgreSQL, three primary
// processes sharing one identity (primary-id, token, TLS key: copied from the first, as the README's
// HA guide says) and three secondaries given every primary's address. Exactly one leads; SIGKILL it
// and another leads within 2 × TTL + 1 s, every node back on it, a task running on every node at
// the kill run once on each (counted in a file) and finished, no acknowledged sample lost (the
// stored seqs of each node have no gap: a sample leaves the outbox only once acknowledged, so an
// acknowledged one missing from the store would be a hole); SIGSTOP a leader past its lease, SIGCONT
// it: nothing it does then takes effect (the new leader's epoch stays in the store and its nodes
// stay online there); 2 of 3 etcd members down: nobody leads; one back: a leader again. Skipped
// with a reason where etcd or PostgreSQL is missing (never under CI=true). Every wait is bounded.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { LeadershipView } from '../../src/primary/cluster-view.js';
import type { NodeView } from '../../src/primary/registry.js';
import { postgresStoreFactory } from '../../src/store/postgres/open.js';
import type { Child } from '../helpers/child.js';
import {
  apiJson,
  FAST,
  fingerprintOf,
  freePort,
  nodeIdOf,
  type PrimaryProcess,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';
import { startEtcdCluster } from '../helpers/etcd.js';
import { startPostgres } from '../helpers/postgres.js';
import { requirePrograms } from '../helpers/require-tool.js';

const TTL_MS = 2000;
const NODE = process.execPath;
const INSTALL = 'apt-get install -y --no-install-recommends etcd-server postgresql';

interface HaPrimaryProcess extends PrimaryProcess {
  name: string;
  args: string[];
}

async function leadershipOf(p: PrimaryProcess): Promise<LeadershipView | undefined> {
  try {
    const response = await fetch(`${p.api}/api/leadership`, { signal: AbortSignal.timeout(1000) });
    return ((await response.json()) as { leadership: LeadershipView }).leadership;
  } catch {
    return undefined; // stopped, or down
  }
}

/** Every time two primaries said they led at once (asserted empty at the end: a wait would retry past it). */
const doubleLeaders: string[] = [];

/** The primaries whose API says they lead now (at most one may). */
async function leaders(primaries: HaPrimaryProcess[]): Promise<HaPrimaryProcess[]> {
  const views = await Promise.all(primaries.map(leadershipOf));
  const leading = primaries.filter((_, i) => views[i]?.state === 'leader');
  if (leading.length > 1) doubleLeaders.push(leading.map((p) => p.name).join('+'));
  return leading;
}

async function nodesOf(p: PrimaryProcess): Promise<NodeView[]> {
  const response = await fetch(`${p.api}/api/nodes`, { signal: AbortSignal.timeout(2000) });
  if (!response.ok) return [];
  return ((await response.json()) as { nodes: NodeView[] }).nodes;
}

async function allOnline(p: PrimaryProcess, names: string[], timeoutMs: number, what: string): Promise<void> {
  await waitUntil(
    async () => {
      const nodes = await nodesOf(p).catch(() => []);
      return names.every((n) => nodes.some((v) => v.name === n && v.state === 'online')) || undefined;
    },
    timeoutMs,
    what,
  );
}

describe('HA: three primaries on etcd and PostgreSQL', () => {
  it('one leads; a killed leader is replaced in time with nothing acknowledged lost; a paused one acts no more; no quorum, no leader', async (t: TestContext) => {
    const tools = requirePrograms(t, ['etcd'], INSTALL);
    if (!tools) return;
    const pg = await startPostgres(t);
    if (!pg) return; // skipped, with the reason printed
    const etcd = await startEtcdCluster(t, tools.etcd as string);
    const storeUrl = await pg.createDatabase('ha');
    const root = tempDir(t, 'picluster-ha-');
    const ports = [await freePort(), await freePort(), await freePort()];
    const common = [
      '--store',
      storeUrl,
      '--ha-etcd',
      etcd.clientUrls.join(','),
      '--ha-ttl-ms',
      String(TTL_MS),
      '--vitals-commit-ms',
      '100',
      '--log-level',
      process.env.HA_LOG ?? 'info',
    ];
    // On a failure, what every primary said (its log goes to stderr).
    const started: HaPrimaryProcess[] = [];
    let passed = false;
    t.after(() => {
      if (passed) return;
      for (const p of started) console.log(`--- ${p.name} pid ${p.child.pid}\n${p.child.stderr.join('').slice(-6000)}`);
    });
    const start = async (i: number): Promise<HaPrimaryProcess> => {
      const name = `p${i}`;
      const dataDir = join(root, name);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const args = [...common, '--ha-name', name, '--ha-advertise', `127.0.0.1:${ports[i]}`];
      const p = { ...(await startPrimary(t, { dataDir, port: ports[i], args, ready: 'listening' })), name, args };
      started.push(p);
      return p;
    };
    const restart = async (p: HaPrimaryProcess): Promise<HaPrimaryProcess> => {
      const again = await startPrimary(t, {
        dataDir: p.dataDir,
        port: p.port,
        webPort: p.webPort,
        args: p.args,
        ready: 'listening',
      });
      const q = { ...again, name: p.name, args: p.args };
      started.push(q);
      return q;
    };

    // The first primary makes the cluster's identity and leads; the others get a copy of it.
    const first = await start(0);
    await waitUntil(async () => (await leaders([first]))[0], 15_000, 'p0 to lead');
    for (const i of [1, 2]) {
      const dir = join(root, `p${i}`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      for (const file of ['primary-id', 'token', 'tls'])
        cpSync(join(first.dataDir, file), join(dir, file), { recursive: true });
    }
    let primaries = [first, await start(1), await start(2)];
    const standby = await waitUntil(
      async () => {
        const view = await leadershipOf(primaries[1] as HaPrimaryProcess);
        return view?.state === 'follower' && view.leader?.name === 'p0' ? view : undefined;
      },
      10_000,
      'p1 to stand by naming p0',
    );
    assert.equal(standby.leader?.address, `127.0.0.1:${ports[0]}`);
    const health = await fetch(`${(primaries[1] as HaPrimaryProcess).api}/healthz`);
    assert.equal(health.status, 503, 'a standby is not healthy for traffic');

    // Nodes list every primary, a standby first: it sends them to the leader (ERR_NOT_LEADER).
    const names = ['n0', 'n1', 'n2'];
    const addresses = [1, 2, 0].map((i) => `127.0.0.1:${ports[i]}`).join(',');
    const fingerprint = fingerprintOf(first.dataDir) as string;
    const secondaries: Child[] = names.map((name) =>
      startSecondary(t, first, {
        dataDir: join(root, name),
        name,
        // Shell tasks of node itself only: a task that marks a file, to count its runs.
        args: [
          '--primary',
          addresses,
          '--primary-fingerprint',
          fingerprint,
          '--tasks-allow',
          'shell',
          '--tasks-commands',
          NODE,
        ],
      }),
    );
    assert.equal(secondaries.length, 3);
    await allOnline(first, names, 20_000, 'every node online at p0');

    // A task running on every node when the leader dies: the next leader takes it up from the
    // store and the nodes' reports, and each node runs it once (one mark each in the file).
    const marks = join(root, 'marks.txt');
    const script = `require('fs').appendFileSync(${JSON.stringify(marks)}, 'ran\\n'); setTimeout(() => {}, 3000)`;
    const task = await apiJson<{ id: string }>(first.api, 'POST', '/api/tasks', {
      kind: 'shell',
      on: 'all',
      args: { argv: [NODE, '-e', script] },
    });
    await waitUntil(
      async () => {
        const { children = [] } = await apiJson<{ children?: Array<{ state: string }> }>(
          first.api,
          'GET',
          `/api/tasks/${task.id}`,
        );
        return children.length === 3 && children.every((c) => c.state === 'running') ? true : undefined;
      },
      10_000,
      'the task running on every node',
    );

    // SIGKILL the leader: another leads within 2 × TTL + 1 s, and every node is back on it.
    const killedAt = performance.now();
    first.child.kill('SIGKILL');
    const survivors = primaries.slice(1);
    const next = await waitUntil(async () => (await leaders(survivors))[0], 2 * TTL_MS + 1000, 'a new leader');
    const failoverMs = performance.now() - killedAt;
    console.log(`# failover: ${next.name} leads ${Math.round(failoverMs)} ms after the SIGKILL`);
    assert.ok(failoverMs <= 2 * TTL_MS + 1000, `new leader after ${failoverMs} ms`);
    await allOnline(next, names, 15_000, `every node online at ${next.name}`);
    const done = await waitUntil(
      async () => {
        const t1 = await apiJson<{ state: string; children?: Array<{ state: string }> }>(
          next.api,
          'GET',
          `/api/tasks/${task.id}`,
        );
        return ['succeeded', 'failed', 'timed_out', 'cancelled'].includes(t1.state) ? t1 : undefined;
      },
      20_000,
      'the task to finish at the new leader',
    );
    assert.equal(done.state, 'succeeded', JSON.stringify(done));
    assert.equal(readFileSync(marks, 'utf8'), 'ran\n'.repeat(3), 'each node ran the task once');

    // Nothing acknowledged lost: each node's stored seqs run from 1 without a hole.
    const checkStored = async () => {
      const store = await postgresStoreFactory(storeUrl)({ dataDir: root });
      try {
        for (const name of names) {
          const seqs = await store.storedSeqs(nodeIdOf(join(root, name)));
          assert.ok(seqs.length > 5, `${name}: ${seqs.length} samples stored`);
          assert.equal(seqs[0], 1, `${name}: first stored seq`);
          assert.equal(seqs.at(-1), seqs.length, `${name}: a hole in the stored seqs (an acknowledged sample lost)`);
        }
      } finally {
        await store.close();
      }
    };
    await new Promise((resolve) => setTimeout(resolve, 5 * FAST.vitalsMs));
    await checkStored();

    // SIGSTOP the leader past its lease, then SIGCONT: another leads meanwhile, and what the paused
    // one does on waking (its sessions dying, nodes marked lost) never reaches the store.
    primaries = [...survivors, await restart(first)];
    const paused = next;
    paused.child.kill('SIGSTOP');
    const others = primaries.filter((p) => p !== paused);
    const successor = await waitUntil(
      async () => (await leaders(others))[0],
      2 * TTL_MS + 1000,
      'a leader while paused',
    );
    await allOnline(successor, names, 15_000, `every node online at ${successor.name}`);
    paused.child.kill('SIGCONT');
    await waitUntil(
      async () => ((await leadershipOf(paused))?.state === 'follower' ? true : undefined),
      2 * TTL_MS + 1000,
      `${paused.name} standing by after SIGCONT`,
    );
    assert.deepEqual(
      (await leaders(primaries)).map((p) => p.name),
      [successor.name],
    );
    // The nodes stay online in the shared store: the woken leader's "lost" writes were fenced.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const store = await postgresStoreFactory(storeUrl)({ dataDir: root });
    try {
      for (const name of names) {
        const row = await store.getNode(nodeIdOf(join(root, name)));
        assert.equal(row?.state, 'online', `${name} in the store after the paused leader woke`);
      }
    } finally {
      await store.close();
    }
    await checkStored();

    // 2 of 3 etcd members down: nobody leads within the TTL (and a margin); one back: a leader again.
    await etcd.member(0).kill();
    await etcd.member(1).kill();
    await waitUntil(
      async () => {
        const views = await Promise.all(primaries.map(leadershipOf));
        return views.every((v) => v !== undefined && v.state !== 'leader') || undefined;
      },
      2 * TTL_MS + 1000,
      'nobody leading without an etcd quorum',
    );
    const quiet = await leadershipOf(successor);
    assert.equal(quiet?.state, 'no-quorum');
    etcd.member(0).start();
    const back = await waitUntil(
      async () => (await leaders(primaries))[0],
      20_000,
      'a leader once etcd has a quorum again',
    );
    await allOnline(back, names, 20_000, `every node online at ${back.name}`);
    await checkStored();
    assert.deepEqual(doubleLeaders, [], 'two primaries said they led at once');
    passed = true;
  });
});
