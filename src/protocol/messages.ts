// Message types of wire protocol version 1 (ARCHITECTURE.md, "Messages") and their compiled
// validators. Pure: no I/O. The envelope is checked for every frame; the payload of a known type
// is checked against its schema; an unknown type passes with its payload untouched, so the layer
// above can answer ERR_UNKNOWN_TYPE (or a user's handler can take it).

import Type, { type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { ConfigError, ProtocolError } from './errors.js';
import { TASK_MESSAGE_SCHEMAS } from './tasks.js';

export const PROTOCOL_VERSION = 1;

const Int = (min = 0) => Type.Integer({ minimum: min, maximum: Number.MAX_SAFE_INTEGER });
const Str = (maxLength = 256) => Type.String({ maxLength });
const Hex = (bytes: number) => Type.String({ pattern: `^[0-9a-f]{${bytes * 2}}$` });
const Num = (minimum = 0, maximum = Number.MAX_VALUE) => Type.Number({ minimum, maximum });
const Opt = <T extends TSchema>(schema: T) => Type.Optional(schema);

/** A node id: a UUID, or 1–64 of letters, digits, `.`, `_`, `-`. */
export const NODE_ID_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
/** A label key: 1–64 of letters, digits, `.`, `_`, `/`, `-` (no `=` or `,`: selectors split on them). */
export const LABEL_KEY_PATTERN = '^[A-Za-z0-9._/-]{1,64}$';
export const MAX_LABELS = 32;
/** The label rules in words, for the errors of every place that takes labels. */
export const LABELS_RULE = `at most ${MAX_LABELS} labels; keys of 1-64 letters, digits, ".", "_", "/", "-"; values of up to 256 characters, none of them control characters`;
/** Text a node names itself or labels itself with: no control characters (terminals, logs). */
export const PRINTABLE_PATTERN = '^[^\\u0000-\\u001f\\u007f]*$';
/** Realistic bounds of what a machine reports: anything past them is a broken or hostile sender. */
export const LIMITS = {
  bytes: 2 ** 56, // 64 PiB: RAM, swap, a disk
  mhz: 100_000,
  load: 1_000_000,
  uptimeS: 1e10, // three centuries
  tempC: { min: -100, max: 250 },
  cpuCores: 65_536,
  /** Epoch ms of 2100-01-01: a clock past it is wrong, one before 1970 cannot be sent. */
  ts: 4_102_444_800_000,
} as const;
const NodeId = Type.String({ pattern: NODE_ID_PATTERN });
/** What a node calls itself (not unique; the id is). */
export const NodeName = Type.String({ maxLength: 256, pattern: PRINTABLE_PATTERN });
const Bytes = Type.Integer({ minimum: 0, maximum: LIMITS.bytes });
const Time = Type.Integer({ minimum: 0, maximum: LIMITS.ts });

export const Envelope = Type.Object({
  t: Type.String({ minLength: 1, maxLength: 64 }),
  id: Opt(Int(1)),
  re: Opt(Int(1)),
  p: Opt(Type.Unknown()),
});
export type Envelope = Static<typeof Envelope>;

const Empty = Type.Object({});
export const Labels = Type.Record(
  Type.String({ pattern: LABEL_KEY_PATTERN }),
  Type.String({ maxLength: 256, pattern: PRINTABLE_PATTERN }),
  {
    maxProperties: MAX_LABELS,
    additionalProperties: false,
  },
);
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

export type MessageType = keyof typeof MESSAGE_SCHEMAS;
export type PayloadOf<T extends MessageType> = Static<(typeof MESSAGE_SCHEMAS)[T]>;
export type HelloPayload = PayloadOf<'hello'>;
export type AuthPayload = PayloadOf<'auth'>;
export type WelcomePayload = PayloadOf<'welcome'>;
export type InfoPayload = PayloadOf<'info'>;
export type VitalsPayload = PayloadOf<'vitals'>;
export type QueryPayload = PayloadOf<'query'>;
export type ErrorReply = PayloadOf<'error'>;

/** A decoded message: `id` marks a request, `re` a reply. */
export interface Message {
  t: string;
  id?: number;
  re?: number;
  p?: unknown;
}

/**
 * A copy of a validated payload with only the fields its schema names (nested objects as they
 * are): unknown fields are ignored, as the protocol says, not stored and served onwards.
 */
export function knownFields<T extends 'vitals' | 'info'>(
  type: T,
  payload: unknown,
  except: readonly string[] = [],
): PayloadOf<T> {
  const out: Record<string, unknown> = {};
  const source = payload as Record<string, unknown>;
  for (const key of Object.keys(MESSAGE_SCHEMAS[type].properties)) {
    if (source[key] !== undefined && !except.includes(key)) out[key] = source[key];
  }
  return out as PayloadOf<T>;
}

/** The type a successful reply to a request of type `t` carries. */
export function replyTypeOf(t: string): string {
  return t === 'auth' ? 'welcome' : 'result';
}

const checkEnvelope = Compile(Envelope);
// Maps, never plain objects: a type named "constructor" or "__proto__" must not find anything.
const payloadSchemas = new Map<string, TSchema>(Object.entries(MESSAGE_SCHEMAS));
// Compiled on first use: an agent never receives `vitals` or `auth`, and every compiled validator
// costs memory (a Pi Zero's agent has a 60 MB budget).
const payloadValidators = new Map<string, ReturnType<typeof Compile>>();

function payloadValidator(t: string): ReturnType<typeof Compile> | undefined {
  let validator = payloadValidators.get(t);
  if (validator === undefined) {
    const schema = payloadSchemas.get(t);
    if (schema === undefined) return undefined;
    validator = Compile(schema);
    payloadValidators.set(t, validator);
  }
  return validator;
}

/** True when `t` is a message type of protocol v1. */
export function isKnownType(t: string): t is MessageType {
  return payloadSchemas.has(t);
}

/**
 * Checks a parsed JSON value against the envelope and, for known types, the payload schema.
 * Replies of type `error` are checked too; other replies (`result`) carry any payload.
 * @throws ProtocolError ERR_INVALID_MESSAGE naming the first thing that is wrong.
 */
export function validateMessage(value: unknown): Message {
  if (!checkEnvelope.Check(value)) {
    throw invalid('message', checkEnvelope, value);
  }
  const validator = payloadValidator(value.t);
  if (validator !== undefined && !validator.Check(value.p ?? {})) {
    throw invalid(`"${value.t}" payload`, validator, value.p ?? {});
  }
  if (value.t === 'vitals') checkVitals(value.p as VitalsPayload);
  return value;
}

/**
 * What a schema cannot say of a sample: each mount and each interface once, no disk with more
 * free than total. @throws ProtocolError ERR_INVALID_MESSAGE
 */
function checkVitals(sample: VitalsPayload): void {
  const twice = (names: string[]) => names.find((name, i) => names.indexOf(name) !== i);
  const mount = twice(sample.disks.map((d) => d.mount));
  if (mount !== undefined)
    throw new ProtocolError(
      'ERR_INVALID_MESSAGE',
      `invalid "vitals" payload: mount ${JSON.stringify(mount.slice(0, 64))} twice`,
    );
  const iface = twice(sample.nets.map((n) => n.iface));
  if (iface !== undefined)
    throw new ProtocolError(
      'ERR_INVALID_MESSAGE',
      `invalid "vitals" payload: interface ${JSON.stringify(iface.slice(0, 64))} twice`,
    );
  const disk = sample.disks.find((d) => d.freeBytes > d.totalBytes);
  if (disk)
    throw new ProtocolError(
      'ERR_INVALID_MESSAGE',
      `invalid "vitals" payload: disk ${JSON.stringify(disk.mount.slice(0, 64))} has more free than total`,
    );
}

let namingValidators: { name: ReturnType<typeof Compile>; labels: ReturnType<typeof Compile> } | undefined;

/**
 * What a node calls and labels itself, checked where it is given (the library's options) rather
 * than at every refused handshake. @throws ConfigError naming the first problem
 */
export function checkNodeNaming(name: string, labels: Record<string, string>): void {
  namingValidators ??= { name: Compile(NodeName), labels: Compile(Labels) };
  if (!namingValidators.name.Check(name) || name.length === 0) {
    throw new ConfigError(
      `node name ${JSON.stringify(name.slice(0, 64))}: 1-256 characters, none of them control characters`,
    );
  }
  if (!namingValidators.labels.Check(labels)) {
    throw new ConfigError(`labels ${JSON.stringify(labels).slice(0, 200)}: ${LABELS_RULE}`);
  }
}

function invalid(what: string, validator: ReturnType<typeof Compile>, value: unknown): ProtocolError {
  const first = validator.Errors(value)[0];
  const where = first?.instancePath || '/';
  return new ProtocolError('ERR_INVALID_MESSAGE', `invalid ${what} at ${where}: ${first?.message ?? 'rejected'}`);
}
