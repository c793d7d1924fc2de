// `picluster alerts` and `picluster silence`: the primary's alerts, their history, rules and
// channels, a test message, and silences, through its JSON API. Text from the API reaches the
// terminal only through printable().

import type { ChannelView, RuleView } from '../alerts/alert-service.js';
import { definedOnly } from '../common/defined-only.js';
import { formatDuration } from '../common/duration.js';
import type { AlertRow, SilenceRow } from '../store/store-api.js';
import { ApiCallError, callApi, printable, textTable, timeOf } from './api-client.js';
import type { Config } from './config.js';
import { reportErrors } from './tasks.js';

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) q.set(key, String(value));
  const text = q.toString();
  return text ? `?${text}` : '';
}

/** Alerts as a table: STATE, SEVERITY, RULE, NODE, DETAIL, SINCE (UTC), and what held them back. */
export function formatAlertTable(alerts: readonly AlertRow[]): string {
  if (alerts.length === 0) return 'no alerts\n';
  const rows = alerts.map((a) => [
    a.state,
    a.severity,
    printable(a.rule),
    printable(a.nodeName),
    printable(a.detail),
    timeOf(a.since),
    [a.silenced ? 'silenced' : '', a.flapping ? 'flapping' : ''].filter(Boolean).join(',') || '-',
  ]);
  return textTable(['STATE', 'SEVERITY', 'RULE', 'NODE', 'DETAIL', 'SINCE (UTC)', 'NOTES'], rows);
}

export async function runAlertsList(
  config: Config,
  options: { json: boolean; state?: string; history?: boolean; node?: string; rule?: string; limit?: number },
): Promise<number> {
  return reportErrors(async () => {
    const path = options.history
      ? `/api/alerts/history${query({ state: options.state, node: options.node, rule: options.rule, limit: options.limit })}`
      : `/api/alerts${query({ state: options.state })}`;
    const body = await callApi<{ alerts: AlertRow[] }>(config, 'GET', path);
    process.stdout.write(options.json ? json(body) : formatAlertTable(body.alerts));
    return 0;
  });
}

export async function runAlertRules(config: Config, options: { json: boolean }): Promise<number> {
  return reportErrors(async () => {
    const body = await callApi<{ rules: RuleView[] }>(config, 'GET', '/api/alerts/rules');
    if (options.json) {
      process.stdout.write(json(body));
      return 0;
    }
    const condition = (r: RuleView) => {
      if (r.kind === 'vital')
        return `${r.vital} ${r.op ?? ''} ${r.threshold}${r.clear !== undefined ? ` (clear ${r.clear})` : ''}`;
      if (r.kind === 'throttle') return `${r.flag} ${r.when ?? 'now'}`;
      if (r.kind === 'clock-skew') return `skew above ${r.threshold ?? 60000} ms`;
      if (r.kind === 'task-failed') return r.task ? `task ${r.task} failed` : 'a task failed';
      return 'offline (lost)';
    };
    const rows = body.rules.map((r) => [
      printable(r.name),
      r.kind,
      printable(condition(r).replace(/\s+/g, ' ')),
      r.forMs > 0 ? formatDuration(r.forMs) : '-',
      r.repeatMs > 0 ? formatDuration(r.repeatMs) : 'never',
      r.severity ?? 'warning',
      printable(r.nodes ?? 'all'),
      r.source,
    ]);
    process.stdout.write(
      textTable(['NAME', 'KIND', 'CONDITION', 'FOR', 'REPEAT', 'SEVERITY', 'NODES', 'SOURCE'], rows),
    );
    return 0;
  });
}

export async function runAlertChannels(config: Config, options: { json: boolean }): Promise<number> {
  return reportErrors(async () => {
    const body = await callApi<{ channels: ChannelView[] }>(config, 'GET', '/api/alerts/channels');
    if (options.json) {
      process.stdout.write(json(body));
      return 0;
    }
    if (body.channels.length === 0) {
      process.stdout.write('no alert channels (add [alerts.channels.NAME] to the config file)\n');
      return 0;
    }
    const rows = body.channels.map((c) => [
      printable(c.name),
      c.type,
      printable(c.target),
      String(c.stats.sent),
      String(c.stats.failed),
      String(c.queued + c.held),
      c.quietHours
        ? `${printable(c.quietHours.from)}-${printable(c.quietHours.to)}${c.quietHours.now ? ' (now)' : ''}`
        : '-',
      c.stats.lastError ? `${timeOf(c.stats.lastErrorAt)} ${printable(c.stats.lastError)}` : '-',
    ]);
    process.stdout.write(
      textTable(['NAME', 'TYPE', 'TARGET', 'SENT', 'FAILED', 'QUEUED', 'QUIET HOURS', 'LAST ERROR'], rows),
    );
    return 0;
  });
}

export async function runAlertTest(config: Config, channel: string): Promise<number> {
  return reportErrors(async () => {
    await callApi(config, 'POST', `/api/alerts/channels/${encodeURIComponent(channel)}/test`);
    process.stdout.write(`test message sent on ${printable(channel)}\n`);
    return 0;
  });
}

export async function runSilenceList(config: Config, options: { json: boolean }): Promise<number> {
  return reportErrors(async () => {
    const body = await callApi<{ silences: SilenceRow[] }>(config, 'GET', '/api/silences');
    if (options.json) process.stdout.write(json(body));
    else if (body.silences.length === 0) process.stdout.write('no silences\n');
    else {
      const rows = body.silences.map((s) => [
        s.id,
        printable(s.rule ?? '*'),
        printable(s.node ?? '*'),
        printable(s.labels ?? '*'),
        timeOf(s.until),
        printable(s.author),
        printable(s.comment) || '-',
      ]);
      process.stdout.write(textTable(['ID', 'RULE', 'NODE', 'LABELS', 'UNTIL (UTC)', 'BY', 'COMMENT'], rows));
    }
    return 0;
  });
}

export interface SilenceAddOptions {
  rule?: string;
  node?: string;
  labels?: string;
  for?: string;
  until?: string;
  comment?: string;
  json: boolean;
}

export async function runSilenceAdd(config: Config, options: SilenceAddOptions): Promise<number> {
  return reportErrors(async () => {
    if (!options.rule && !options.node && !options.labels)
      throw new ApiCallError('say what to silence: --rule, --node and/or --labels');
    if ((options.for === undefined) === (options.until === undefined))
      throw new ApiCallError('say how long: --for DURATION or --until TIME (one of them)');
    const body = definedOnly({
      rule: options.rule,
      node: options.node,
      labels: options.labels,
      for: options.for,
      until: options.until,
      comment: options.comment,
    });
    const { silence } = await callApi<{ silence: SilenceRow }>(config, 'POST', '/api/silences', body);
    process.stdout.write(options.json ? json(silence) : `${silence.id} silences until ${timeOf(silence.until)} UTC\n`);
    return 0;
  });
}

export async function runSilenceRemove(config: Config, id: string): Promise<number> {
  return reportErrors(async () => {
    const body = await callApi<{ removed: string }>(config, 'DELETE', `/api/silences/${encodeURIComponent(id)}`);
    process.stdout.write(`${printable(body.removed)} removed\n`);
    return 0;
  });
}
