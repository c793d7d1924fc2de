// A worker of bench/reconnect-storm.ts: runs many `Secondary` instances in this one process, each
// with its own data dir, the default timers, injected cheap vitals and machine info, and reports
// over IPC when each one starts connecting, comes online, goes offline or is refused.

import { join } from 'node:path';
import { validateMessage } from '../src/protocol/messages.js';
import { Secondary } from '../src/secondary/secondary.js';
import {
  EV,
  type EventCode,
  fakeInfo,
  fakeMachineId,
  fakeVitals,
  nodeName,
  type StormCommand,
  type StormMessage,
} from './storm-common.js';

function post(message: StormMessage): void {
  process.send?.(message);
}

// The worker never outlives the orchestrator: no IPC channel, no worker.
process.on('disconnect', () => process.exit(0));

// The fakes must be what a real node sends: check them against the protocol's schemas once.
validateMessage({ t: 'info', p: fakeInfo(0) });
validateMessage({ t: 'vitals', p: { ...fakeVitals(), seq: 1 } });

let pending: Array<[EventCode, number, number]> = [];
const flusher = setInterval(() => {
  if (pending.length === 0) return;
  const events = pending;
  pending = [];
  post({ kind: 'events', events });
}, 25);
flusher.unref();

const vitals = { read: async () => fakeVitals() };
const nodes: Secondary[] = [];

async function start(command: StormCommand): Promise<void> {
  for (let i = 0; i < command.count; i++) {
    const node = command.firstNode + i;
    const info = fakeInfo(node);
    const secondary = new Secondary({
      primary: [{ host: command.host, port: command.port }],
      dataDir: join(command.dataRoot, `n${String(node).padStart(5, '0')}`),
      name: nodeName(node),
      token: command.token,
      tls: command.fingerprint === undefined ? false : { fingerprint: command.fingerprint },
      vitalsPeriodMs: command.vitalsPeriodMs,
      vitals,
      machineInfo: async () => info,
      machineId: async () => fakeMachineId(node),
      // heartbeat, handshake timeout and reconnect backoff: the library defaults.
    });
    secondary.on('state', (state) => {
      if (state === 'connecting') pending.push([EV.connecting, node, Date.now()]);
    });
    secondary.on('online', () => pending.push([EV.online, node, Date.now()]));
    secondary.on('offline', () => pending.push([EV.offline, node, Date.now()]));
    secondary.on('authFailed', () => pending.push([EV.authFailed, node, Date.now()]));
    nodes.push(secondary);
  }
  // Every node boots at once: the harshest first start.
  await Promise.all(nodes.map((n) => n.start()));
  post({ kind: 'started', at: Date.now() });
}

process.on('message', (command: StormCommand) => {
  if (command.cmd === 'start') {
    start(command).catch((err: unknown) => {
      post({ kind: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    });
  }
});

post({ kind: 'ready' });
