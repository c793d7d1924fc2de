// Message types of wire protocol version 1 (ARCHITECTURE.md, "Messages") and their compiled
// validators. Pure: no I/O. The envelope is checked for every frame; the payload of a known type
// is checked against its schema; an unknown type passes with its payload untouched, so the layer
// above can answer ERR_UNKNOWN_TYPE (or a user's handler can take it).

import Type, { type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { ProtocolError } from './errors.js';

export const PROTOCOL_VERSION = 1;

const Int = (min = 0) => Type.Integer({ minimum: min, maximum: Number.MAX_SAFE_INTEGER });
const Str = (maxLength = 256) => Type.String({ maxLength });
const Hex = (bytes: number) => Type.String({ pattern: `^[0-9a-f]{${bytes * 2}}$` });
const Num = (minimum = 0, maximum = Number.MAX_VALUE) => Type.Number({ minimum, maximum });
const Opt = <T extends TSchema>(schema: T) => Type.Optional(schema);

export const Envelope = Type.Object({
  t: Type.String({ minLength: 1, maxLength: 64 }),
  id: Opt(Int(1)),
  re: Opt(Int(1)),
  p: Opt(Type.Unknown()),
});
export type Envelope = Static<typeof Envelope>;

const Empty = Type.Object({});
const Labels = Type.Record(Type.String({ maxLength: 64 }), Str(256));
const ProtocolRange = Type.Object({ min: Int(1), max: Int(1) });

export const Hello = Type.Object({
  protocol: ProtocolRange,
  primaryId: Str(64),
  nonce: Hex(32),
  heartbeatMs: Int(1),
  maxFrameBytes: Int(64),
});

export const Auth = Type.Object({
  nodeId: Str(64),
  name: Str(256),
  labels: Labels,
  version: Str(64),
  protocol: ProtocolRange,
  machineId: Str(128),
  clientNonce: Hex(32),
  using: Type.Union([Type.Literal('node'), Type.Literal('token')]),
  proof: Hex(32),
});

export const Welcome = Type.Object({
  nodeId: Str(64),
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
  cpuCores: Int(0),
  cpuMinMhz: Opt(Num()),
  cpuMaxMhz: Opt(Num()),
  ramTotalBytes: Int(0),
  swapTotalBytes: Int(0),
  board: Opt(Str()),
  bootId: Opt(Str(64)),
  machineId: Opt(Str(128)),
  version: Str(64),
});

const ThrottleFlags = Type.Array(Str(32), { maxItems: 16 });

export const Vitals = Type.Object({
  seq: Int(1),
  ts: Int(0),
  cpuPercent: Num(0, 100),
  cpuMhz: Opt(Num()),
  ramAvailableBytes: Int(0),
  swapFreeBytes: Int(0),
  load1: Num(),
  load5: Num(),
  load15: Num(),
  uptimeS: Num(),
  tempC: Opt(Num(-273.15, 1000)),
  throttled: Opt(Type.Object({ now: ThrottleFlags, sinceBoot: ThrottleFlags })),
  disks: Type.Array(Type.Object({ mount: Str(), freeBytes: Int(0), totalBytes: Int(0) }), {
    maxItems: 64,
  }),
  nets: Type.Array(Type.Object({ iface: Str(64), rxBytes: Int(0), txBytes: Int(0) }), {
    maxItems: 64,
  }),
  dropped: Opt(Int(0)),
  /**
   * The node's wall clock when it sent this sample (not when it took it: a sample may wait in the
   * outbox for hours): the primary's measure of how far the node's clock is off.
   */
  sentAt: Opt(Int(0)),
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
  id: Opt(Str(64)),
  /** `nodes`: the page after this node id (the `next` of the previous page). */
  after: Opt(Str(64)),
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
  return value;
}

function invalid(what: string, validator: ReturnType<typeof Compile>, value: unknown): ProtocolError {
  const first = validator.Errors(value)[0];
  const where = first?.instancePath || '/';
  return new ProtocolError('ERR_INVALID_MESSAGE', `invalid ${what} at ${where}: ${first?.message ?? 'rejected'}`);
}
