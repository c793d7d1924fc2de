// Many in-process secondaries with fake vitals for the fault suite, as one child process driven over
// IPC (it may run inside a network namespace):
//   agent-fleet.ts '{"primary":"HOST:PORT","tokenFile":F,"baseDir":D,"count":N,"periodMs":P,
//                    "heartbeatMs":H,"reconnect":[I,M],"handshakeMs":T,"prefix":"f"}'
// Reports {event:'nodes', nodes:[{name,nodeId,dataDir}]} once started, {event:'online', n} as nodes
// come online, {event:'report', acks:{nodeId:seq}, attempts:[epoch ms...]} every 100 ms (the highest
// ack per node, the connection attempts since the last report, and how many times a link was
// lost in all), and on SIGTERM stops every
// node gracefully, then {event:'stopped'} and exit 0.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Secondary } from '../../src/secondary/secondary.js';
import { fakeMachine } from './fake-machine.js';

export interface FleetOptions {
  primary: string;
  tokenFile: string;
  baseDir: string;
  count: number;
  periodMs: number;
  heartbeatMs: number;
  reconnect: [number, number];
  handshakeMs: number;
  prefix?: string;
  /** The primary's certificate fingerprint to pin; undefined: plaintext (a primary with --no-tls). */
  fingerprint?: string;
}

export const FLEET_SCRIPT = new URL('./agent-fleet.ts', import.meta.url).pathname;

if (process.argv[1] === FLEET_SCRIPT) await main();

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] as string) as FleetOptions;
  const token = readFileSync(o.tokenFile, 'utf8').trim();
  const acks: Record<string, number> = {};
  let attempts: number[] = [];
  let online = 0;
  let offline = 0;
  const nodes = Array.from({ length: o.count }, (_, i) => {
    const name = `${o.prefix ?? 'f'}${i}`;
    const node = new Secondary({
      primary: o.primary,
      dataDir: join(o.baseDir, name),
      name,
      token,
      vitalsPeriodMs: o.periodMs,
      heartbeatIntervalMs: o.heartbeatMs,
      handshakeTimeoutMs: o.handshakeMs,
      reconnect: { initialDelayMs: o.reconnect[0], maxDelayMs: o.reconnect[1] },
      tls: o.fingerprint === undefined ? false : { fingerprint: o.fingerprint },
      ...fakeMachine('fleet', `fleet-machine-${name}`),
    });
    node.on('ack', (seq) => {
      acks[node.nodeId] = Math.max(acks[node.nodeId] ?? 0, seq);
    });
    node.on('state', (state) => {
      if (state === 'connecting') attempts.push(Date.now());
    });
    node.on('offline', () => {
      offline++;
    });
    node.once('online', () => process.send?.({ event: 'online', n: ++online }));
    return node;
  });
  await Promise.all(nodes.map((n) => n.start()));
  process.send?.({
    event: 'nodes',
    nodes: nodes.map((n) => ({ name: n.name, nodeId: n.nodeId, dataDir: n.dataDir })),
  });
  const reporter = setInterval(() => {
    process.send?.({ event: 'report', acks, attempts, offline });
    attempts = [];
  }, 100);
  process.once('SIGTERM', async () => {
    clearInterval(reporter);
    await Promise.all(nodes.map((n) => n.stop()));
    process.send?.({ event: 'report', acks, attempts, offline });
    process.send?.({ event: 'stopped' });
    process.disconnect?.();
  });
}
