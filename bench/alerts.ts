// `npm run bench:alerts [-- --nodes N --samples N --rounds N]`: what the alert engine costs per
// stored sample, with the five default rules, across a fleet whose nodes run warm (a share of them
// pending or firing, with three mounts each and Pi flags). The peer, in the same run: the same five
// conditions written by hand for exactly these rules (plain maps of state per node and mount, no
// rule objects, no scope, no overrides), the least any evaluator must do. Both see the same
// samples in the same order; rounds alternate which goes first. A measurement, not a test.

import { AlertEngine } from '../src/alerts/engine.js';
import { DEFAULT_RULES, ruleOf } from '../src/alerts/rules.js';
import type { NodeView } from '../src/protocol/node-view.js';
import type { ReceivedVitals } from '../src/store/store-api.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const NODES = arg('nodes', 10_000);
const SAMPLES = arg('samples', 500_000);
const ROUNDS = arg('rounds', 3);

function fleet(): NodeView[] {
  return Array.from({ length: NODES }, (_, i) => ({
    id: `node-${i}`,
    name: `pi-${i}`,
    state: 'online',
    labels: { rack: String(i % 20), role: i % 3 === 0 ? 'camera' : 'worker' },
    address: null,
    legacy: false,
    info: {
      hostname: `pi-${i}`,
      os: 'Debian',
      kernel: '6.6',
      arch: 'arm64',
      cpuModel: 'Cortex-A76',
      cpuCores: 4,
      ramTotalBytes: 8e9,
      swapTotalBytes: 1e9,
      bootId: `boot-${i}`,
      version: 'bench',
    },
    vitals: null,
    lastSeen: 0,
    connectedSince: 0,
    clockSkewMs: 0,
  }));
}

/** Samples in a fixed pseudo-random order: ~5 % of the nodes hot, ~2 % with a full mount, ~1 % throttled. */
function samples(): Array<[number, ReceivedVitals]> {
  let seed = 42;
  const rnd = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  return Array.from({ length: Math.min(SAMPLES, 200_000) }, (_, n) => {
    const i = Math.floor(rnd() * NODES);
    const hot = i % 20 === 0;
    const full = i % 50 === 0;
    const throttled = i % 100 === 0 ? ['throttled'] : [];
    return [
      i,
      {
        seq: n + 1,
        ts: 0,
        receivedAt: 0,
        cpuPercent: 30,
        ramAvailableBytes: 4e9,
        swapFreeBytes: 1e9,
        load1: 1,
        load5: 1,
        load15: 1,
        uptimeS: 1000,
        tempC: hot ? 78 + rnd() * 6 : 45 + rnd() * 10,
        throttled: { now: throttled, sinceBoot: throttled },
        disks: [
          { mount: '/', freeBytes: full ? 5e8 : 2e10, totalBytes: 3e10 },
          { mount: '/boot', freeBytes: 4e8, totalBytes: 5e8 },
          { mount: '/var/lib/motion', freeBytes: 1e11, totalBytes: 2e11 },
        ],
        nets: [],
      },
    ];
  });
}

type Clock = { monoMs(): number; wallMs(): number };

function picluster(nodes: NodeView[], clock: Clock): (i: number, v: ReceivedVitals) => void {
  const engine = new AlertEngine({ clock });
  engine.setRules(DEFAULT_RULES.map((r) => ruleOf(r, 'default')));
  return (i, v) => engine.vitals(nodes[i] as NodeView, v);
}

/** The five default conditions by hand: hysteresis, `for`, per mount, flags; state in plain maps. */
function peer(nodes: NodeView[], clock: Clock): (i: number, v: ReceivedVitals) => void {
  const hot = new Map<string, { since: number; firing: boolean }>();
  const disk = new Map<string, { since: number; firing: boolean }>();
  const flags = new Map<string, boolean>();
  let told = 0;
  const step = (
    map: Map<string, { since: number; firing: boolean }>,
    key: string,
    bad: boolean,
    clear: boolean,
    forMs: number,
  ) => {
    const s = map.get(key);
    if (bad) {
      if (!s) map.set(key, { since: clock.monoMs(), firing: forMs === 0 });
      else if (!s.firing && clock.monoMs() - s.since >= forMs) {
        s.firing = true;
        told++;
      }
    } else if (clear && s) {
      if (s.firing) told++;
      map.delete(key);
    }
  };
  return (i, v) => {
    const node = nodes[i] as NodeView;
    if (v.tempC !== undefined) step(hot, node.id, v.tempC >= 80, v.tempC < 75, 300_000);
    for (const d of v.disks) {
      const free = (100 * d.freeBytes) / d.totalBytes;
      step(disk, `${node.id}\u0000${d.mount}`, free <= 10, free > 10, 600_000);
    }
    for (const flag of ['under-voltage', 'throttled']) {
      const on = v.throttled?.now.includes(flag) === true;
      const key = `${node.id}\u0000${flag}`;
      if (on !== (flags.get(key) === true)) {
        flags.set(key, on);
        told++;
      }
    }
    if (told < 0) throw new Error('unreachable');
  };
}

function measure(make: (nodes: NodeView[], clock: Clock) => (i: number, v: ReceivedVitals) => void): number {
  const nodes = fleet();
  const list = samples();
  let mono = 0;
  const clock = { monoMs: () => mono, wallMs: () => 1_800_000_000_000 + mono };
  const feed = make(nodes, clock);
  // Warm-up: every node seen once (the JIT, the maps).
  for (let i = 0; i < NODES; i++) feed(i, (list[i % list.length] as [number, ReceivedVitals])[1]);
  const started = process.hrtime.bigint();
  for (let n = 0; n < SAMPLES; n++) {
    const [i, v] = list[n % list.length] as [number, ReceivedVitals];
    mono += 1; // a thousand samples a second of fleet time
    feed(i, v);
  }
  return Number(process.hrtime.bigint() - started) / SAMPLES;
}

const rows: Array<{ round: number; picluster: number; peer: number }> = [];
for (let round = 1; round <= ROUNDS; round++) {
  const order = round % 2 === 1 ? (['picluster', 'peer'] as const) : (['peer', 'picluster'] as const);
  const row = { round, picluster: 0, peer: 0 };
  for (const who of order) row[who] = measure(who === 'picluster' ? picluster : peer);
  rows.push(row);
  console.error(
    `round ${round}: picluster ${row.picluster.toFixed(0)} ns/sample, peer ${row.peer.toFixed(0)} ns/sample`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const p = median(rows.map((r) => r.picluster));
const q = median(rows.map((r) => r.peer));
console.log(
  JSON.stringify(
    { nodes: NODES, samples: SAMPLES, rounds: rows, medianNs: { picluster: p, peer: q }, ratio: p / q },
    null,
    2,
  ),
);
console.log(
  `alert engine: ${(p / 1000).toFixed(2)} µs per sample (${(p / q).toFixed(1)}x the hand-written peer's ${(q / 1000).toFixed(2)} µs), ${NODES} nodes, 5 default rules`,
);
