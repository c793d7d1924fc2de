// Quiet hours of a channel: a daily window ("22:00" to "07:00", possibly across midnight) in a
// time zone, read from the wall clock (it is about the time of day people sleep through).

import { ConfigError } from '../protocol/errors.js';

export interface QuietHoursInput {
  from: string;
  to: string;
  /** IANA time zone; default the primary's local one. */
  timeZone?: string;
  /** Critical alerts are sent at once even in quiet hours. Default true. */
  allowCritical?: boolean;
}

export interface QuietHours {
  from: string;
  to: string;
  timeZone: string;
  allowCritical: boolean;
  /** True when `wallMs` falls in the window. */
  isQuiet(wallMs: number): boolean;
}

const TIME = /^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

function secondsOf(text: string, what: string): number {
  const m = TIME.exec(text.trim());
  if (!m) throw new ConfigError(`${what}: "${text.slice(0, 20)}" is not a time of day (HH:MM or HH:MM:SS)`);
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0);
}

/** @throws ConfigError for a bad time or time zone */
export function quietHoursOf(input: QuietHoursInput, what: string): QuietHours {
  const from = secondsOf(input.from, `${what} quietHours.from`);
  const to = secondsOf(input.to, `${what} quietHours.to`);
  const timeZone = input.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
  } catch {
    throw new ConfigError(`${what} quietHours.timeZone: unknown time zone "${timeZone.slice(0, 64)}"`);
  }
  return {
    from: input.from,
    to: input.to,
    timeZone,
    allowCritical: input.allowCritical ?? true,
    isQuiet(wallMs) {
      const parts = Object.fromEntries(format.formatToParts(wallMs).map((p) => [p.type, p.value]));
      const now = Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second);
      return from <= to ? now >= from && now < to : now >= from || now < to;
    },
  };
}
