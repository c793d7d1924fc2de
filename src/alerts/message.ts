// What a channel sends: one message per notification (an alert fired, is still firing, resolved),
// a digest of what quiet hours held back, or a test. Channels render it their way (a JSON body, an
// ntfy publish, a mail); the title and text are the same everywhere.

import { formatDuration } from '../common/duration.js';
import type { AlertRow } from '../store/store-api.js';
import type { Notification, NotificationEvent } from './engine.js';

export type MessageType = NotificationEvent | 'digest' | 'test';

export interface AlertMessage {
  type: MessageType;
  title: string;
  text: string;
  severity: 'warning' | 'critical';
  /** The alerts it is about, each with what happened to it (empty for a test). */
  alerts: Array<AlertRow & { event: NotificationEvent }>;
  /** Epoch ms. */
  sentAt: number;
}

const LABEL: Record<NotificationEvent, string> = { firing: 'FIRING', repeat: 'STILL FIRING', resolved: 'RESOLVED' };

function lineOf(event: NotificationEvent, alert: AlertRow, now: number): string {
  // A mount is named in the detail already; a boot id says nothing to a person.
  const where =
    alert.kind === 'vital' && alert.subject && !alert.detail.includes(alert.subject) ? ` ${alert.subject}` : '';
  const flapping = alert.flapping ? ' (flapping: held firing until it stays clear)' : '';
  const lasted = alert.firedAt === null ? '' : formatDuration(Math.max(0, now - alert.firedAt));
  const when = event === 'repeat' ? `, firing for ${lasted}` : event === 'resolved' && lasted ? ` after ${lasted}` : '';
  return `[${LABEL[event]}] ${alert.rule} on ${alert.nodeName}${where}: ${alert.detail}${when}${flapping}`;
}

export function messageOf({ event, alert, rule }: Notification, now: number): AlertMessage {
  const line = lineOf(event, alert, now);
  const summary = rule.summary ? `\n${rule.summary}` : '';
  return {
    type: event,
    title: line.length > 150 ? `${line.slice(0, 147)}...` : line,
    text: `${line}${summary}\nnode ${alert.nodeName} (${alert.node}), rule ${alert.rule} (${alert.severity}), alert ${alert.id}`,
    severity: alert.severity,
    alerts: [{ ...alert, event }],
    sentAt: now,
  };
}

/** One message for everything quiet hours held back, in order. */
export function digestOf(held: readonly AlertMessage[], now: number): AlertMessage {
  const alerts = held.flatMap((m) => m.alerts);
  const critical = held.some((m) => m.severity === 'critical');
  return {
    type: 'digest',
    title: `picluster: ${held.length} alert message${held.length === 1 ? '' : 's'} held during quiet hours`,
    text: held.map((m) => `${new Date(m.sentAt).toISOString()} ${m.title}`).join('\n'),
    severity: critical ? 'critical' : 'warning',
    alerts,
    sentAt: now,
  };
}

export function testMessage(channel: string, now: number): AlertMessage {
  return {
    type: 'test',
    title: `picluster: a test message on channel ${channel}`,
    text: `This is a test of the alert channel "${channel}", sent by picluster alerts test.`,
    severity: 'warning',
    alerts: [],
    sentAt: now,
  };
}
