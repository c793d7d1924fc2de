// InfluxDB 1.x line protocol for vitals, in picluster's own layout ('native') and the original
// Python cluster's ('legacy', LEGACY-PROTOCOL.md: measurements cpu/ram/swap tagged node=<name>).
// Pure formatting, no I/O.

import type { VitalsPayload } from '../protocol/messages.js';
import { computeSampleTime } from '../store/sample-time.js';

export type InfluxLayout = 'native' | 'legacy';

export const NATIVE_MEASUREMENT = 'picluster_vitals';
/** The original cluster's retention policy on its vitals database (365 days, the default one). */
export const LEGACY_RETENTION_POLICY = 'node_vitals_year_rp';

// ---- line protocol (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/)

/** An integer field (written with the `i` suffix); a plain number is a float field. */
export interface IntField {
  readonly int: number;
}
export type FieldValue = number | IntField | string | boolean;

const intField = (n: number | undefined): IntField | undefined => (n === undefined ? undefined : { int: n });

/** Escapes a tag key, tag value or field key. */
export function escapeKey(text: string): string {
  // InfluxDB 1.x takes a separator after any backslash as escaped and has no escape for a line
  // break: a trailing backslash (which would swallow the separator) and line breaks cannot be
  // written, so they go. A backslash elsewhere is literal and stays as it is.
  return text
    .replace(/[\r\n]+/g, ' ')
    .replace(/\\+$/, '')
    .replace(/[,= ]/g, '\\$&');
}

function formatField(value: FieldValue): string | undefined {
  if (typeof value === 'string') return `"${value.replace(/[\\"]/g, '\\$&')}"`;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  return Number.isSafeInteger(value.int) ? `${value.int}i` : undefined;
}

/**
 * One line of line protocol, or undefined when no field has a value (InfluxDB rejects such a
 * line). Tags with an empty value are left out; so are fields that are undefined or not finite.
 */
export function formatLine(
  measurement: string,
  tags: Record<string, string>,
  fields: Record<string, FieldValue | undefined>,
  timestampMs: number,
): string | undefined {
  let fieldText = '';
  for (const [key, value] of Object.entries(fields)) {
    const text = value === undefined ? undefined : formatField(value);
    if (text !== undefined) fieldText += `${fieldText ? ',' : ''}${escapeKey(key)}=${text}`;
  }
  if (!fieldText) return undefined;
  let tagText = '';
  for (const [key, value] of Object.entries(tags)) {
    const escaped = escapeKey(value);
    if (escaped) tagText += `,${escapeKey(key)}=${escaped}`;
  }
  return `${measurement.replace(/[, ]/g, '\\$&')}${tagText} ${fieldText} ${Math.round(timestampMs)}`;
}

/**
 * The time the stores file the sample under (store/sample-time.ts): its own when its clock is
 * right (a backlog days old too, given the link's clock offset), translated by the offset when
 * the clock is far off, else the time the primary received it (a Pi without RTC says 1970).
 */
export function sampleTimeMs(sample: { ts: number; receivedAt: number }, clockOffsetMs?: number): number {
  return computeSampleTime(sample.ts, sample.receivedAt, clockOffsetMs).t;
}

/** The lines of one sample in the given layout; `clockOffsetMs`: the link's, see sampleTimeMs. */
export function formatVitalsLines(
  layout: InfluxLayout,
  node: { id: string; name: string },
  sample: VitalsPayload & { receivedAt: number },
  clockOffsetMs?: number,
): string[] {
  const at = sampleTimeMs(sample, clockOffsetMs);
  const lines =
    layout === 'legacy'
      ? // The original wrote Python floats for cpu and ints (`i`) for free bytes; same types here,
        // or InfluxDB refuses the writes into its existing shards (field type conflict).
        [
          formatLine(
            'cpu',
            { node: node.name || node.id },
            { frequency: sample.cpuMhz, percentage: sample.cpuPercent, temperature: sample.tempC },
            at,
          ),
          formatLine('ram', { node: node.name || node.id }, { free: intField(sample.ramAvailableBytes) }, at),
          formatLine('swap', { node: node.name || node.id }, { free: intField(sample.swapFreeBytes) }, at),
        ]
      : [
          formatLine(
            NATIVE_MEASUREMENT,
            { node_id: node.id, node_name: node.name },
            {
              cpu_percent: sample.cpuPercent,
              cpu_mhz: sample.cpuMhz,
              ram_available_bytes: intField(sample.ramAvailableBytes),
              swap_free_bytes: intField(sample.swapFreeBytes),
              load1: sample.load1,
              load5: sample.load5,
              load15: sample.load15,
              uptime_s: sample.uptimeS,
              temp_c: sample.tempC,
              seq: intField(sample.seq),
              dropped: intField(sample.dropped),
            },
            at,
          ),
        ];
  return lines.filter((line) => line !== undefined);
}

// ---- HTTP
