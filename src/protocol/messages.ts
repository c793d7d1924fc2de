// Message types of wire protocol version 1 (ARCHITECTURE.md, "Messages") and their validators.
// Pure: no I/O. The envelope is checked for every frame; the payload of a known type is checked
// against its schema; an unknown type passes with its payload untouched, so the layer above can
// answer ERR_UNKNOWN_TYPE (or a user's handler can take it).
//
// The schemas are TypeBox's, in message-schemas.ts; the checks are TypeBox's compiled code for
// them, generated at build time into generated/message-checks.ts (scripts/gen-validators.ts), so
// an agent never loads TypeBox (+18 MB RSS, BENCHMARKS.md "Agent cost"). The words of an error come
// from TypeBox too, loaded on the first invalid message only (schema-issue.ts).

import type { Static } from 'typebox';
import { ConfigError, ProtocolError } from './errors.js';
import {
  ENVELOPE_CHECK,
  KNOWN_FIELDS,
  LABELS_CHECK,
  NODE_NAME_CHECK,
  PAYLOAD_CHECKS,
} from './generated/message-checks.js';
import type { Envelope as EnvelopeSchema, MESSAGE_SCHEMAS } from './message-schemas.js';
import { firstIssue } from './schema-issue.js';

export const PROTOCOL_VERSION = 1;

/** A node id: a UUID, or 1–64 of letters, digits, `.`, `_`, `-`. */
export const NODE_ID_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
/** A label key: 1–64 of letters, digits, `.`, `_`, `/`, `-` (no `=` or `,`: selectors split on them). */
export const LABEL_KEY_PATTERN = '^[A-Za-z0-9._/-]{1,64}$';
export const MAX_LABELS = 32;
/** The label rules in words, for the errors of every place that takes labels. */
export const LABELS_RULE = `at most ${MAX_LABELS} labels; keys of 1-64 letters, digits, ".", "_", "/", "-"; values of up to 256 characters, none of them control characters`;
/** Text a node names itself or labels itself with: no control characters (terminals, logs). */
export const PRINTABLE_PATTERN = '^[^\\u0000-\\u001f\\u007f]*$';
/** What a node calls itself (not unique; the id is), as JSON Schema: settings.ts takes it too. */
export const NODE_NAME_SCHEMA = { type: 'string', maxLength: 256, pattern: PRINTABLE_PATTERN } as const;
/** A node's labels, as JSON Schema (message-schemas.ts's Labels; settings.ts takes it too). */
export const LABELS_SCHEMA = {
  type: 'object',
  patternProperties: { [LABEL_KEY_PATTERN]: NODE_NAME_SCHEMA },
  maxProperties: MAX_LABELS,
  additionalProperties: false,
} as const;
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
export type Envelope = Static<typeof EnvelopeSchema>;
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
  for (const key of KNOWN_FIELDS[type]) {
    if (source[key] !== undefined && !except.includes(key)) out[key] = source[key];
  }
  return out as PayloadOf<T>;
}

/** The type a successful reply to a request of type `t` carries. */
export function replyTypeOf(t: string): string {
  return t === 'auth' ? 'welcome' : 'result';
}

/** True when `t` is a message type of protocol v1. */
export function isKnownType(t: string): t is MessageType {
  return PAYLOAD_CHECKS.has(t);
}

/**
 * Checks a parsed JSON value against the envelope and, for known types, the payload schema.
 * Replies of type `error` are checked too; other replies (`result`) carry any payload.
 * @throws ProtocolError ERR_INVALID_MESSAGE naming the first thing that is wrong.
 */
export function validateMessage(value: unknown): Message {
  if (!ENVELOPE_CHECK(value)) {
    throw invalid('message', 'envelope', value);
  }
  const envelope = value as Message;
  const check = PAYLOAD_CHECKS.get(envelope.t);
  if (check !== undefined && !check(envelope.p ?? {})) {
    throw invalid(`"${envelope.t}" payload`, envelope.t, envelope.p ?? {});
  }
  if (envelope.t === 'vitals') checkVitals(envelope.p as VitalsPayload);
  return envelope;
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

/**
 * What a node calls and labels itself, checked where it is given (the library's options) rather
 * than at every refused handshake. @throws ConfigError naming the first problem
 */
export function checkNodeNaming(name: string, labels: Record<string, string>): void {
  if (!NODE_NAME_CHECK(name) || name.length === 0) {
    throw new ConfigError(
      `node name ${JSON.stringify(name.slice(0, 64))}: 1-256 characters, none of them control characters`,
    );
  }
  if (!LABELS_CHECK(labels)) {
    throw new ConfigError(`labels ${JSON.stringify(labels).slice(0, 200)}: ${LABELS_RULE}`);
  }
}

const MAX_QUOTED_PATH_CHARS = 200;

/** @param schema the name of the schema in generated/message-checks.ts (a message type, or `envelope`). */
function invalid(what: string, schema: string, value: unknown): ProtocolError {
  const first = firstIssue(schema, value);
  // The path spells the peer's own keys (a `/` in one doubles as `~1`): quote its start only.
  const path = first?.instancePath || '/';
  const where = path.length <= MAX_QUOTED_PATH_CHARS ? path : `${path.slice(0, MAX_QUOTED_PATH_CHARS)}…`;
  return new ProtocolError('ERR_INVALID_MESSAGE', `invalid ${what} at ${where}: ${first?.message ?? 'rejected'}`);
}
