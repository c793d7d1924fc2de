// The alerts page's channels (GET /api/alerts/channels): where each sends (type and target), how
// it is doing (sent, failed, retried, dropped; queued and held back by quiet hours), its last
// send and last error, and its quiet hours (and whether they are on now).

import { h } from './dom.js';
import * as fmt from './format.js';
import { LoadedTable } from './loaded-table.js';
import { timeEl } from './task-format.js';

/** The channels section (a LoadedTable); onLoad(channels): the list after each load. */
export function channelTable({ onLoad } = {}) {
  return new LoadedTable({
    name: 'channels',
    title: 'Channels',
    headings: ['Channel', 'Target', 'Sent', 'Failed', 'Queued', 'Last sent', 'Last error', 'Quiet hours'],
    path: '/api/alerts/channels',
    key: 'channels',
    empty: 'No channels: alerts are only shown here. Add [alerts.channels.NAME] to the config file.',
    row: channelRow,
    onLoad,
  });
}

const count = (n) => (typeof n === 'number' ? String(n) : fmt.NONE);

function channelRow(c) {
  const stats = c.stats ?? {};
  const failed = [count(stats.failed)];
  if (stats.retried) failed.push(`${stats.retried} retried`);
  if (stats.dropped) failed.push(`${stats.dropped} dropped`);
  const queued = c.held ? `${count(c.queued)} (${c.held} held)` : count(c.queued);
  return h(
    'tr',
    { dataset: { name: String(c.name ?? ''), failing: String(Boolean(stats.lastError)) } },
    h('td', null, h('strong', { text: String(c.name ?? '') }), ' ', h('span', { class: 'muted', text: c.type })),
    h('td', { class: 'target', text: String(c.target ?? '') }),
    h('td', { class: 'num sent', text: count(stats.sent) }),
    h('td', { class: 'num failed', text: failed.join(', ') }),
    h('td', { class: 'num', text: queued }),
    h('td', null, typeof stats.lastSentAt === 'number' ? timeEl(stats.lastSentAt) : fmt.NONE),
    h(
      'td',
      { class: 'last-error', title: fmt.full(stats.lastErrorAt) },
      stats.lastError ? String(stats.lastError) : fmt.NONE,
    ),
    h('td', { text: quietText(c.quietHours) }),
  );
}

function quietText(q) {
  if (!q) return 'none';
  const parts = [`${q.from}–${q.to} ${q.timeZone ?? ''}`.trim()];
  if (q.allowCritical) parts.push('critical ones still sent');
  if (q.now) parts.push('quiet now');
  return parts.join(', ');
}
