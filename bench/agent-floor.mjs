// The floor peer of bench:agent (`--flavors dist,floor`): a lower bound of a Node.js node, one TLS
// link and the token handshake. Plain JavaScript, one ES module, Node's own modules only (no
// program code, no dependencies, no loader): it dials the primary over TLS (trusting any
// certificate, as a first use does), sends the opening magic, answers `hello` with a token `auth`
// (the contract's HMAC proof), checks the primary's `serverProof`, sends `info` once and a sample
// every 10 s read from `os`, /proc/stat and /proc/meminfo, pings after an interval of silence,
// answers `ping`, and reads `ack`s. Less than the contract asks of a node: no persisted outbox, no
// node secret kept, no dead-primary detection or reconnection, no answers to other requests, seq
// from 1; what is left is Node, its TLS stack and one link. Run as the launcher runs the agent.
// Usage: node bench/agent-floor.mjs HOST:PORT TOKEN_FILE NAME

import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import tls from 'node:tls';

const [address, tokenFile, name] = process.argv.slice(2);
const [host, port] = address.split(':');
const token = readFileSync(tokenFile, 'utf8').trim();
const nodeId = randomUUID();
const clientNonce = randomBytes(32).toString('hex');
const proofOf = (message) => createHmac('sha256', token).update(message).digest('hex');
const PERIOD_MS = 10_000;
let heartbeatMs = 5_000;
let primaryId = '';
let seq = 0;
let lastSentAt = performance.now();
let rest = Buffer.alloc(0);

const socket = tls.connect({ host, port: Number(port), rejectUnauthorized: false }, () => {
  socket.setNoDelay(true);
  socket.write(Buffer.from([0x50, 0x49, 0x43, 0x01]));
});

function send(message) {
  const json = JSON.stringify(message);
  const frame = Buffer.allocUnsafe(4 + Buffer.byteLength(json));
  frame.writeUInt32BE(frame.length - 4, 0);
  frame.write(json, 4);
  socket.write(frame);
  lastSentAt = performance.now();
}

/** kB fields of /proc/meminfo, in bytes. */
function meminfo() {
  const bytes = (key) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) * 1024;
  return { available: bytes('MemAvailable'), swapFree: bytes('SwapFree'), swapTotal: bytes('SwapTotal') };
}

let cpuBefore = readCpu();
function readCpu() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3] + (fields[4] ?? 0);
  return { idle, total: fields.reduce((a, b) => a + b, 0) };
}

function sample() {
  const cpu = readCpu();
  const total = cpu.total - cpuBefore.total;
  const cpuPercent = total > 0 ? Math.round((1 - (cpu.idle - cpuBefore.idle) / total) * 1000) / 10 : 0;
  cpuBefore = cpu;
  const [load1, load5, load15] = os.loadavg();
  const memory = meminfo();
  send({
    t: 'vitals',
    p: {
      seq: ++seq,
      ts: Date.now(),
      cpuPercent,
      ramAvailableBytes: memory.available,
      swapFreeBytes: memory.swapFree,
      load1,
      load5,
      load15,
      uptimeS: os.uptime(),
      disks: [],
      nets: [],
    },
  });
}

function onMessage(message) {
  if (message.t === 'hello') {
    heartbeatMs = message.p.heartbeatMs ?? heartbeatMs;
    primaryId = message.p.primaryId;
    send({
      t: 'auth',
      id: 1,
      p: {
        nodeId,
        name,
        labels: {},
        version: 'floor',
        protocol: { min: 1, max: 1 },
        machineId: '',
        clientNonce,
        using: 'token',
        proof: proofOf(message.p.nonce + nodeId),
      },
    });
  } else if (message.t === 'welcome') {
    if (message.p.serverProof !== proofOf(clientNonce + primaryId)) {
      process.stderr.write('agent-floor: the primary did not prove it knows the token\n');
      process.exit(1);
    }
    const cpus = os.cpus();
    send({
      t: 'info',
      p: {
        hostname: os.hostname(),
        os: os.type(),
        kernel: os.release(),
        arch: os.arch(),
        cpuModel: cpus[0]?.model ?? 'unknown',
        cpuCores: cpus.length,
        ramTotalBytes: os.totalmem(),
        swapTotalBytes: meminfo().swapTotal,
        version: 'floor',
      },
    });
    sample();
    setInterval(sample, PERIOD_MS);
    const heartbeat = () => {
      if (performance.now() - lastSentAt >= heartbeatMs) send({ t: 'ping', p: {} });
      setTimeout(heartbeat, Math.max(1, lastSentAt + heartbeatMs - performance.now()));
    };
    heartbeat();
  } else if (message.t === 'ping') {
    send({ t: 'pong', p: {} });
  } else if (message.t === 'error') {
    process.stderr.write(`agent-floor: the primary said ${JSON.stringify(message.p)}\n`);
    process.exit(1);
  }
}

socket.on('data', (chunk) => {
  rest = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
  while (rest.length >= 4 && rest.length >= 4 + rest.readUInt32BE(0)) {
    const length = rest.readUInt32BE(0);
    onMessage(JSON.parse(rest.toString('utf8', 4, 4 + length)));
    rest = rest.subarray(4 + length);
  }
});
socket.on('error', (err) => {
  process.stderr.write(`agent-floor: ${err.message}\n`);
  process.exit(1);
});
socket.on('close', () => process.exit(1));
