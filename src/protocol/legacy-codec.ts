// The original Python cluster's wire format (LEGACY-PROTOCOL.md): UTF-8 JSON objects
// `{"type", "payload"}`, each ended by one carriage return, no length prefix. Pure: no I/O.
// An incremental decoder (messages split and joined across reads) under the native limits, the
// payloads a legacy node sends, and their mapping to picluster's fields (ARCHITECTURE.md, "legacy
// mapping"). Fields a legacy node does not send stay absent.

import Type, { type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { DEFAULTS } from '../common/defaults.js';
import { ProtocolError } from './errors.js';
import { type InfoPayload, PRINTABLE_PATTERN, type VitalsPayload } from './messages.js';
import { decodeUtf8, MAX_JSON_DEPTH, parseJson } from './parse-json.js';

/** The byte that ends every legacy message: `\r`. */
export const LEGACY_TERMINATOR = 0x0d;

export interface LegacyMessage {
  type: string;
  /** Any JSON; null when the message had none. */
  payload: unknown;
}

export interface LegacyDecoderOptions {
  /** Longest message accepted, in bytes, not counting the `\r`. Default 1 MiB (the native maxFrameBytes). */
  maxMessageBytes?: number;
  /** Deepest JSON nesting accepted. Default 32. */
  maxDepth?: number;
}

const JSON_WHITESPACE_ONLY = /^[ \t\n]*$/;

export class LegacyDecoder {
  readonly maxMessageBytes: number;
  readonly maxDepth: number;
  /** Bytes of the unfinished message (read since the last `\r`). */
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failed: ProtocolError | undefined;

  constructor(options: LegacyDecoderOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULTS.maxFrameBytes;
    this.maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  }

  /** True when bytes of an unfinished message are held (EOF now would cut a message). */
  get hasPartialMessage(): boolean {
    return this.#buffered > 0;
  }

  /** Bytes held for the message being read. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Takes the next chunk and returns every message it completes, in order. A line longer than
   * maxMessageBytes fails as soon as it is known to be, so at most that many bytes are ever held.
   * @throws ProtocolError on the first bad message; the decoder then refuses all further input.
   */
  push(chunk: Buffer): LegacyMessage[] {
    if (this.#failed) throw this.#failed;
    const messages: LegacyMessage[] = [];
    try {
      let start = 0;
      for (let end = chunk.indexOf(LEGACY_TERMINATOR); end !== -1; end = chunk.indexOf(LEGACY_TERMINATOR, start)) {
        this.#checkSize(end - start);
        const tail = chunk.subarray(start, end);
        const body = this.#buffered === 0 ? tail : Buffer.concat([...this.#chunks, tail]);
        this.#chunks = [];
        this.#buffered = 0;
        start = end + 1;
        const message = decodeLegacyMessage(body, this.maxDepth);
        if (message) messages.push(message);
      }
      if (start < chunk.length) {
        this.#checkSize(chunk.length - start);
        this.#chunks.push(start === 0 ? chunk : chunk.subarray(start));
        this.#buffered += chunk.length - start;
      }
    } catch (err) {
      this.#failed = err as ProtocolError;
      this.#chunks = [];
      this.#buffered = 0;
      throw err;
    }
    return messages;
  }

  #checkSize(moreBytes: number): void {
    const total = this.#buffered + moreBytes;
    if (total > this.maxMessageBytes) {
      throw new ProtocolError(
        'ERR_FRAME_TOO_LARGE',
        `legacy message of more than ${total} bytes without "\\r" exceeds the legacy limit of ${this.maxMessageBytes} bytes`,
      );
    }
  }
}

const checkEnvelope = Compile(
  Type.Object({ type: Type.String({ minLength: 1, maxLength: 64 }), payload: Type.Optional(Type.Unknown()) }),
);

/**
 * One message from the bytes between two `\r` (without them); undefined for a blank line.
 * @throws ProtocolError ERR_INVALID_UTF8, ERR_INVALID_JSON, ERR_TOO_DEEP, ERR_FORBIDDEN_KEY or ERR_INVALID_MESSAGE.
 */
export function decodeLegacyMessage(body: Buffer, maxDepth = MAX_JSON_DEPTH): LegacyMessage | undefined {
  const text = decodeUtf8(body);
  if (JSON_WHITESPACE_ONLY.test(text)) return undefined;
  const value = parseJson(text, maxDepth);
  if (!checkEnvelope.Check(value)) throw invalid('legacy message', checkEnvelope, value);
  return { type: value.type, payload: value.payload ?? null };
}

/** The bytes of one legacy message, `\r` included. */
export function encodeLegacyMessage(type: string, payload: unknown): Buffer {
  return Buffer.from(`${JSON.stringify({ type, payload })}\r`, 'utf8');
}

// ---- payloads a legacy node sends (LEGACY-PROTOCOL.md, "A secondary's session")

const Bytes = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Mhz = Type.Number({ minimum: 0, maximum: 1e6 });
// psutil answers None where a machine lacks a source (no cpufreq in a VM): null means "absent".
const Maybe = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

export const LegacyBaseInfo = Type.Object({
  // A node's name, as native names: no control characters (terminals, logs).
  hostname: Type.String({ minLength: 1, maxLength: 256, pattern: PRINTABLE_PATTERN }),
  ram: Maybe(Bytes),
  swap: Maybe(Bytes),
  cpu: Maybe(Type.String({ maxLength: 256 })),
  cpu_cores: Maybe(Type.Integer({ minimum: 0, maximum: 65_536 })),
  cpu_frequency_max: Maybe(Mhz),
  cpu_frequency_min: Maybe(Mhz),
});

export const LegacyVitals = Type.Object({
  cpu_percentage: Type.Number({ minimum: 0, maximum: 100 }),
  cpu_frequency: Maybe(Mhz),
  ram_free: Bytes,
  swap_free: Bytes,
  cpu_temperature: Maybe(Type.Number({ minimum: -273.15, maximum: 1000 })),
});

/** A legacy node's machine info in picluster's names: only what it sent (no os, kernel, arch, version). */
export type LegacyNodeInfo = Pick<InfoPayload, 'hostname'> &
  Partial<Pick<InfoPayload, 'ramTotalBytes' | 'swapTotalBytes' | 'cpuModel' | 'cpuCores' | 'cpuMaxMhz' | 'cpuMinMhz'>>;

/** A legacy sample in picluster's names: no load, uptime, disks, nets, throttling, seq or node time. */
export type LegacyVitalsReading = Pick<VitalsPayload, 'cpuPercent' | 'ramAvailableBytes' | 'swapFreeBytes'> &
  Partial<Pick<VitalsPayload, 'cpuMhz' | 'tempC'>>;

const checkBaseInfo = Compile(LegacyBaseInfo);
const checkVitals = Compile(LegacyVitals);

/** Maps a `node_baseinfo` payload. @throws ProtocolError ERR_INVALID_MESSAGE */
export function parseLegacyBaseInfo(payload: unknown): LegacyNodeInfo {
  if (!checkBaseInfo.Check(payload)) throw invalid('"node_baseinfo" payload', checkBaseInfo, payload);
  const p: Static<typeof LegacyBaseInfo> = payload;
  return definedOnly({
    hostname: p.hostname,
    ramTotalBytes: p.ram,
    swapTotalBytes: p.swap,
    // platform.processor() is "" where Python cannot tell: that is "not known", not a model.
    cpuModel: p.cpu || undefined,
    cpuCores: p.cpu_cores,
    cpuMaxMhz: p.cpu_frequency_max,
    cpuMinMhz: p.cpu_frequency_min,
  }) as LegacyNodeInfo;
}

/** Maps a `vitals` payload. @throws ProtocolError ERR_INVALID_MESSAGE */
export function parseLegacyVitals(payload: unknown): LegacyVitalsReading {
  if (!checkVitals.Check(payload)) throw invalid('"vitals" payload', checkVitals, payload);
  const p: Static<typeof LegacyVitals> = payload;
  return definedOnly({
    cpuPercent: p.cpu_percentage,
    cpuMhz: p.cpu_frequency,
    ramAvailableBytes: p.ram_free,
    swapFreeBytes: p.swap_free,
    tempC: p.cpu_temperature,
  }) as LegacyVitalsReading;
}

/** This machine's info as a legacy `primary_info` payload (the `node_baseinfo` keys); absent fields are left out. */
export function toLegacyBaseInfo(info: Partial<InfoPayload> & Pick<InfoPayload, 'hostname'>): Record<string, unknown> {
  return definedOnly({
    hostname: info.hostname,
    ram: info.ramTotalBytes,
    swap: info.swapTotalBytes,
    cpu: info.cpuModel,
    cpu_cores: info.cpuCores,
    cpu_frequency_max: info.cpuMaxMhz,
    cpu_frequency_min: info.cpuMinMhz,
  });
}

/** True for a uuid as the legacy protocol spells it: 32 lowercase hex digits. */
export function isLegacyUuid(text: string): boolean {
  return /^[0-9a-f]{32}$/.test(text);
}

/** Drops keys whose value is undefined or null: absent, never null. */
function definedOnly(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null));
}

function invalid(what: string, validator: ReturnType<typeof Compile>, value: unknown): ProtocolError {
  const first = validator.Errors(value)[0];
  const where = first?.instancePath || '/';
  return new ProtocolError('ERR_INVALID_MESSAGE', `invalid ${what} at ${where}: ${first?.message ?? 'rejected'}`);
}
