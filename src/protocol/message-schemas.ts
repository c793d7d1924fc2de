// The TypeBox schemas of wire protocol v1's messages (ARCHITECTURE.md, "Messages"). Never loaded by
// an agent at run time: scripts/gen-validators.ts compiles them into generated/message-checks.ts
// (messages.ts validates with those), and the payload types come from here by `import type`
// (erased). Edit here, then run `node --import tsx scripts/gen-validators.ts` (a unit test fails
// while its output is stale).

import Type, { type TSchema } from 'typebox';
import { LABELS_SCHEMA, LIMITS, NODE_ID_PATTERN, NODE_NAME_SCHEMA } from './messages.js';
import { TASK_MESSAGE_SCHEMAS } from './task-schemas.js';

const Int = (min = 0) => Type.Integer({ minimum: min, maximum: Number.MAX_SAFE_INTEGER });
const Str = (maxLength = 256) => Type.String({ maxLength });
const Hex = (bytes: number) => Type.String({ pattern: `^[0-9a-f]{${bytes * 2}}$` });
const Num = (minimum = 0, maximum = Number.MAX_VALUE) => Type.Number({ minimum, maximum });
const Opt = <T extends TSchema>(schema: T) => Type.Optional(schema);

const NodeId = Type.String({ pattern: NODE_ID_PATTERN });
/** What a node calls itself (not unique; the id is). */
export const NodeName = Type.Unsafe<string>(NODE_NAME_SCHEMA);
const Bytes = Type.Integer({ minimum: 0, maximum: LIMITS.bytes });
const Time = Type.Integer({ minimum: 0, maximum: LIMITS.ts });

export const Envelope = Type.Object({
  t: Type.String({ minLength: 1, maxLength: 64 }),
  id: Opt(Int(1)),
  re: Opt(Int(1)),
  p: Opt(Type.Unknown()),
});

const Empty = Type.Object({});
export const Labels = Type.Unsafe<Record<string, string>>(LABELS_SCHEMA);
const ProtocolRange = Type.Object({ min: Int(1), max: Int(1) });

export const Hello = Type.Object({
  protocol: ProtocolRange,
  primaryId: Str(64),
  nonce: Hex(32),
  heartbeatMs: Int(1),
  maxFrameBytes: Int(64),
});

export const Auth = Type.Object({
  nodeId: NodeId,
  name: NodeName,
  labels: Labels,
  version: Str(64),
  protocol: ProtocolRange,
  machineId: Str(128),
  clientNonce: Hex(32),
  using: Type.Union([Type.Literal('node'), Type.Literal('token')]),
  proof: Hex(32),
});

export const Welcome = Type.Object({
  nodeId: NodeId,
  nodeSecret: Opt(Hex(32)),
  lastSeq: Int(0),
  serverProof: Hex(32),
});

export const Info = Type.Object({
  hostname: Str(),
  os: Str(),
  kernel: Str(),
  arch: Str(64),
  cpuModel: Str(),
  cpuCores: Type.Integer({ minimum: 0, maximum: LIMITS.cpuCores }),
  cpuMinMhz: Opt(Num(0, LIMITS.mhz)),
  cpuMaxMhz: Opt(Num(0, LIMITS.mhz)),
  ramTotalBytes: Bytes,
  swapTotalBytes: Bytes,
  board: Opt(Str()),
  bootId: Opt(Str(64)),
  machineId: Opt(Str(128)),
  version: Str(64),
});

const ThrottleFlags = Type.Array(Str(32), { maxItems: 16 });

export const Vitals = Type.Object({
  seq: Int(1),
  ts: Time,
  cpuPercent: Num(0, 100),
  cpuMhz: Opt(Num(0, LIMITS.mhz)),
  ramAvailableBytes: Bytes,
  swapFreeBytes: Bytes,
  load1: Num(0, LIMITS.load),
  load5: Num(0, LIMITS.load),
  load15: Num(0, LIMITS.load),
  uptimeS: Num(0, LIMITS.uptimeS),
  tempC: Opt(Num(LIMITS.tempC.min, LIMITS.tempC.max)),
  throttled: Opt(Type.Object({ now: ThrottleFlags, sinceBoot: ThrottleFlags })),
  disks: Type.Array(Type.Object({ mount: Str(), freeBytes: Bytes, totalBytes: Bytes }), {
    maxItems: 64,
  }),
  nets: Type.Array(Type.Object({ iface: Str(64), rxBytes: Int(0), txBytes: Int(0) }), {
    maxItems: 64,
  }),
  dropped: Opt(Int(0)),
  /** The agent's own cost: its process's resident memory, and its CPU since the last sample (% of one core). */
  agentRssBytes: Opt(Bytes),
  agentCpuPercent: Opt(Num(0, 100 * LIMITS.cpuCores)),
  /**
   * The node's wall clock when it sent this sample (not when it took it: a sample may wait in the
   * outbox for hours): the primary's measure of how far the node's clock is off.
   */
  sentAt: Opt(Time),
});

export const Ack = Type.Object({ seq: Int(0) });

export const Query = Type.Object({
  what: Type.Union([
    Type.Literal('primary'),
    Type.Literal('nodes'),
    Type.Literal('node'),
    Type.Literal('vitals'),
    Type.Literal('info'),
  ]),
  id: Opt(NodeId),
  /** `nodes`: the page after this node id (the `next` of the previous page). */
  after: Opt(NodeId),
  /** `nodes`: at most this many nodes in a page. */
  limit: Opt(Int(1)),
});

export const Bye = Type.Object({ reason: Str(256) });

export const ErrorPayload = Type.Object({ code: Str(64), message: Str(4096) });

/** Every message type of protocol v1 with the schema of its payload. */
export const MESSAGE_SCHEMAS = {
  hello: Hello,
  auth: Auth,
  welcome: Welcome,
  ping: Empty,
  pong: Empty,
  info: Info,
  vitals: Vitals,
  ack: Ack,
  query: Query,
  result: Type.Unknown(),
  bye: Bye,
  error: ErrorPayload,
  ...TASK_MESSAGE_SCHEMAS,
} as const;
