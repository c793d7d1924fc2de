// The rows of the raw vitals, as the log and the chunks hold them: a sample's columns and its
// JSON rest in a log row, a node's samples deflated together in a chunk row (raw-vitals.ts).

import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type Database from 'better-sqlite3';
import type { ReceivedVitals } from '../store-api.js';
import { ROLLUP_FIELDS } from './schema.js';

/**
 * Samples per chunk at most (an hour at the default 10 s period): a chart of a day reads a few
 * hundred small chunks at most.
 */
const CHUNK_MAX = 360;

const columns = ROLLUP_FIELDS.map((f) => f.column);

/** One raw sample: the rollup columns by ROLLUP_FIELDS order, the rest of the sample as sent. */
export interface RawSample {
  seq: number;
  /** The time it is filed under (raw-vitals' caller decides: the node's clock unless far off). */
  t: number;
  ts: number;
  receivedAt: number;
  skewed: boolean;
  values: Array<number | null>;
  uptimeS: number | null;
  extra: Record<string, unknown>;
}

/** A sample in a chunk: [seq, t, ts, receivedAt, ...values, uptimeS, extra]. */
type ChunkItem = [number, number, number, number, ...Array<number | null | Record<string, unknown>>];

/** Inserts a node's samples (sorted by seq) as chunks of at most CHUNK_MAX, with `insert` (INSERT_CHUNK_SQL). */
export function insertChunks(insert: Database.Statement, key: number, list: readonly RawSample[]): void {
  for (let i = 0; i < list.length; i += CHUNK_MAX) {
    const part = list.slice(i, i + CHUNK_MAX);
    let t0 = Number.POSITIVE_INFINITY;
    let t1 = Number.NEGATIVE_INFINITY;
    const items: ChunkItem[] = [];
    for (const s of part) {
      t0 = Math.min(t0, s.t);
      t1 = Math.max(t1, s.t);
      items.push([s.seq, s.t, s.ts, s.receivedAt, ...s.values, s.uptimeS, s.extra]);
    }
    const last = part[part.length - 1] as RawSample;
    insert.run(key, t0, t1, last.seq, last.receivedAt, part.length, deflateRawSync(JSON.stringify(items)));
  }
}

/**
 * Appends one row to a log table: id, node, seq, t, ts, received_at, skewed, the rollup columns,
 * uptime_s, extra (the id is the log's own, unique across its two tables).
 */
export function insertLogSql(table: string): string {
  return `INSERT INTO ${table} (id, node, seq, t, ts, received_at, skewed, ${columns.join(', ')}, uptime_s, extra)
  VALUES (?, ?, ?, ?, ?, ?, ?, ${columns.map(() => '?').join(', ')}, ?, ?)`;
}

/** The values of `s` for insertLogSql, after its id and node; `compress`: see encodeExtra. */
export function logValues(s: RawSample, compress = false): Array<number | string | Buffer | null> {
  return [s.seq, s.t, s.ts, s.receivedAt, s.skewed ? 1 : 0, ...s.values, s.uptimeS, encodeExtra(s.extra, compress)];
}

/**
 * Preset dictionaries of a log row's deflated `extra`, by the blob's first byte (never change one:
 * stored rows depend on it; add another). What a sample's rest is made of: 234 bytes of JSON for
 * a Pi with one disk and two interfaces deflate to about 50 with it, 150 without.
 */
const EXTRA_DICTIONARIES: ReadonlyArray<Buffer | undefined> = [
  undefined,
  Buffer.from(
    '{"throttled":{"now":["under-voltage","freq-capped","throttled","soft-temp-limit"],"sinceBoot":["under-voltage","freq-capped","throttled","soft-temp-limit"]},' +
      '"dropped":0,"agentRssBytes":,"agentCpuPercent":0.,"sentAt":17,' +
      '"disks":[{"mount":"/","freeBytes":,"totalBytes":},{"mount":"/boot/firmware","freeBytes":,"totalBytes":}],' +
      '"nets":[{"iface":"eth0","rxBytes":,"txBytes":},{"iface":"wlan0","rxBytes":0,"txBytes":0}]}',
  ),
];
const EXTRA_VERSION = 1;

/**
 * A log row's `extra`: JSON text, or (`compress`, while few samples come in: a dozen microseconds
 * of CPU each, which 50,000 samples a second cannot spare) a blob of a version byte and the JSON
 * deflated with that version's dictionary, to write a small fleet's log a third as large.
 */
export function encodeExtra(extra: Record<string, unknown>, compress: boolean): string | Buffer {
  const json = JSON.stringify(extra);
  if (!compress) return json;
  const body = deflateRawSync(json, { dictionary: EXTRA_DICTIONARIES[EXTRA_VERSION] });
  return Buffer.concat([Buffer.of(EXTRA_VERSION), body]);
}

/** The sample's rest from a log row's `extra` (either form). @throws on a blob it cannot read. */
export function decodeExtra(value: string | Buffer): Record<string, unknown> {
  if (typeof value === 'string') return JSON.parse(value) as Record<string, unknown>;
  const dictionary = EXTRA_DICTIONARIES[value[0] ?? 0];
  if (dictionary === undefined) throw new Error(`a vitals log row's extra has an unknown encoding (${value[0]})`);
  return JSON.parse(inflateRawSync(value.subarray(1), { dictionary }).toString('utf8')) as Record<string, unknown>;
}

export const INSERT_CHUNK_SQL =
  'INSERT INTO vitals_chunks (node, t0, t1, seq1, received1, n, data) VALUES (?, ?, ?, ?, ?, ?, ?)';

export type LogRow = Record<string, number | string | Buffer | null>;

export function sampleOfRow(r: LogRow): RawSample {
  return {
    seq: r.seq as number,
    t: r.t as number,
    ts: r.ts as number,
    receivedAt: r.received_at as number,
    skewed: r.skewed === 1,
    values: columns.map((c) => r[c] as number | null),
    uptimeS: r.uptime_s as number | null,
    extra: decodeExtra(r.extra as string | Buffer),
  };
}

export function decodeChunk(data: Buffer): RawSample[] {
  const items = JSON.parse(inflateRawSync(data).toString('utf8')) as ChunkItem[];
  const n = columns.length;
  return items.map((item) => ({
    seq: item[0],
    t: item[1],
    ts: item[2],
    receivedAt: item[3],
    skewed: item[1] !== item[2],
    values: item.slice(4, 4 + n) as Array<number | null>,
    uptimeS: item[4 + n] as number | null,
    extra: item[5 + n] as Record<string, unknown>,
  }));
}

/** The sample as it was sent, with the primary's receive time. */
export function receivedOf(s: RawSample): ReceivedVitals {
  const sample: Record<string, unknown> = { ...s.extra, seq: s.seq, ts: s.ts };
  sample.uptimeS = s.uptimeS;
  ROLLUP_FIELDS.forEach((f, i) => {
    const v = s.values[i];
    if (v !== null && v !== undefined) sample[f.key] = v;
  });
  sample.receivedAt = s.receivedAt;
  return sample as unknown as ReceivedVitals;
}
