// Real wall-clock steps (issue "Clock steps, full disks..."): the primary and three secondaries run
// under Debian's libfaketime, each driven through a timestamp file of its own, with the monotonic
// clock left real. The primary's wall clock, then one secondary's, steps forward an hour, back an
// hour, ten years ahead and back: no session drops, no node is shown lost, no reconnect happens,
// vitals keep being acknowledged, and the skew shows on the stepped node. A secondary frozen while
// the primary's clock is an hour behind is still found dead within [2H, 4H]. At the end: every
// acknowledged sample stored once, the database sound, the daemons exit 0 with no unexpected
// error in their logs.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { getNodes, nodeIdOf, startPrimary, startSecondary, tempDir, waitUntil } from '../helpers/cluster.js';
import { type Agent, LOCAL_TIMING, stopAndCheck } from '../helpers/fault-cluster.js';
import { jepsen } from '../helpers/jepsen-log.js';
import { apiMetrics, sleep, urlApi } from '../helpers/observe.js';
import { skipOrFail } from '../helpers/require-tool.js';

/** libfaketime's library (Debian package faketime), or undefined. */
function faketimeLibrary(): string | undefined {
  for (const dir of readdirSync('/usr/lib', { withFileTypes: true })) {
    const candidate = join('/usr/lib', dir.name, 'faketime', 'libfaketime.so.1');
    if (dir.isDirectory() && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The environment that runs a process on the wall clock of `file` (an offset such as "+1h"), monotonic time real. */
function fakeClock(library: string, file: string): Record<string, string> {
  writeFileSync(file, '+0\n');
  return {
    LD_PRELOAD: library,
    FAKETIME_TIMESTAMP_FILE: file,
    FAKETIME_NO_CACHE: '1',
    DONT_FAKE_MONOTONIC: '1',
  };
}

/** libfaketime's "y" is 365 days. */
const OFFSETS_MS: Record<string, number> = {
  '+0': 0,
  '+1h': 3_600_000,
  '-1h': -3_600_000,
  '+10y': 3650 * 86_400_000,
};

const { H } = LOCAL_TIMING;

describe('wall-clock steps', () => {
  it(
    'stepping the wall clock of the primary, then of a secondary (+1 h, -1 h, +10 y, back): no session drops, no node lost, no reconnect, vitals acknowledged all along, the skew shows; a frozen secondary is still dead within [2H, 4H]',
    jepsen('wall-clock steps', async (t, log) => {
      const library = faketimeLibrary();
      if (!library) return skipOrFail(t, 'needs libfaketime (install: apt-get install faketime)');
      const dir = tempDir(t, 'picluster-clock-');
      const primaryClock = join(dir, 'clock-primary');
      const started = await startPrimary(t, {
        dataDir: join(dir, 'primary'),
        args: ['--heartbeat-interval-ms', String(H)],
        env: fakeClock(library, primaryClock),
      });
      const api = urlApi(started.api);
      const agents: Agent[] = [];
      const agentClocks: string[] = [];
      for (const name of ['a1', 'a2', 'a3']) {
        const dataDir = join(dir, name);
        const clock = join(dir, `clock-${name}`);
        const child = startSecondary(t, started, {
          dataDir,
          name,
          args: ['--heartbeat-interval-ms', String(H), '--vitals-period-ms', String(LOCAL_TIMING.vitalsMs)],
          env: fakeClock(library, clock),
        });
        agents.push({ name, dataDir, nodeId: '', child });
        agentClocks.push(clock);
      }
      await waitUntil(
        async () => (await getNodes(started.api)).filter((n) => n.state === 'online' && n.vitals).length === 3,
        30_000,
        'three nodes online with vitals',
      );
      for (const a of agents) a.nodeId = nodeIdOf(a.dataDir);
      const [a1, , a3] = agents as [Agent, Agent, Agent];
      const reconnects = async () => (await apiMetrics(api)).get('picluster_reconnects_total') ?? 0;
      const reconnectsBefore = await reconnects();

      /** Steps `clock` to `offset` and watches 4H: every node online all along, every one's stored seq growing. */
      const stepAndWatch = async (who: string, clock: string, offset: string) => {
        const seqOf = async () =>
          new Map((await getNodes(started.api)).map((n) => [n.id, n.vitals?.seq ?? 0] as const));
        const before = await seqOf();
        await log.step(`${who} clock ${offset}`, async () => writeFileSync(clock, `${offset}\n`));
        const until = performance.now() + 4 * H;
        while (performance.now() < until) {
          const notOnline = (await getNodes(started.api)).filter((n) => n.state !== 'online');
          assert.deepEqual(
            notOnline.map((n) => `${n.name} ${n.state}`),
            [],
            `${who} clock ${offset}: a node dropped`,
          );
          await sleep(100);
        }
        const after = await seqOf();
        for (const a of agents) {
          const grew = (after.get(a.nodeId) ?? 0) - (before.get(a.nodeId) ?? 0);
          assert.ok(grew >= 4, `${who} clock ${offset}: ${a.name}'s stored seq grew by ${grew} in 4H`);
        }
      };

      for (const offset of ['+1h', '-1h', '+10y', '+0']) await stepAndWatch('primary', primaryClock, offset);
      for (const offset of ['+1h', '-1h', '+10y']) {
        await stepAndWatch('a1', agentClocks[0] as string, offset);
        // The node's clock as the primary sees it: off by the step, give or take the transit.
        const skew = (await getNodes(started.api)).find((n) => n.id === a1.nodeId)?.clockSkewMs ?? Number.NaN;
        assert.ok(Math.abs(skew - (OFFSETS_MS[offset] as number)) < 2_000, `a1 clock ${offset}: clockSkewMs ${skew}`);
      }
      await stepAndWatch('a1', agentClocks[0] as string, '+0');
      const events = (await (await fetch(`${started.api}/api/events?node=${a1.nodeId}`)).json()) as {
        events: Array<{ type: string; skewMs?: number }>;
      };
      assert.ok(
        events.events.some((e) => e.type === 'clock-skew') && events.events[0]?.type === 'clock-synced',
        `a1's clock events: ${events.events.map((e) => e.type).join(', ')}`,
      );
      assert.equal(await reconnects(), reconnectsBefore, 'no session was made again');

      // A frozen node while the primary's clock is an hour behind: dead by its silence, on time.
      await log.step('primary clock -1h', async () => writeFileSync(primaryClock, '-1h\n'));
      await sleep(H);
      const stoppedAt = performance.now();
      await log.step('SIGSTOP a3', async () => a3.child.kill('SIGSTOP'));
      await waitUntil(
        async () => (await getNodes(started.api)).find((n) => n.id === a3.nodeId)?.state === 'lost',
        10 * H,
        'a3 lost',
      );
      const tookMs = performance.now() - stoppedAt;
      log.info('a3 found dead', { tookMs: Math.round(tookMs) });
      assert.ok(tookMs >= 2 * H && tookMs <= 4 * H, `a3 found dead after ${Math.round(tookMs)} ms (H = ${H})`);
      a3.child.kill('SIGCONT');
      writeFileSync(primaryClock, '+0\n');
      await waitUntil(
        async () => (await getNodes(started.api)).filter((n) => n.state === 'online').length === 3,
        20 * H,
        'a3 back',
      );
      await stopAndCheck(t, { agents, primary: { dataDir: started.dataDir, child: started.child, api }, log }, [
        // The step of a1's clock is what these say.
        /the node's clock is -?\d+ ms off the primary's/,
        // a3 was frozen on purpose.
        /node lost/,
      ]);
    }),
  );
});
