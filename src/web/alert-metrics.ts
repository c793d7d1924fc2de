// The alerts' series on /metrics: firing alerts per rule (every rule, 0 included, so a rule that
// stops firing reads 0 rather than vanishing), and per channel its notifications by result and
// its queue.

import type { ClusterView } from '../primary/cluster-view.js';
import { labelled, type ScrapeTimeMetric } from './scrape-metric.js';

const RESULTS = ['sent', 'failed', 'retried', 'dropped'] as const;

export function alertMetrics(cluster: ClusterView): ScrapeTimeMetric[] {
  // Read at each scrape: an HA primary's alert service is its term's (none while it stands by).
  if (!cluster.alerts && !cluster.leadership) return [];
  const firing = () => cluster.alerts?.firingByRule() ?? new Map<string, number>();
  const channels = () => cluster.alerts?.channels() ?? [];
  return [
    labelled('picluster_alerts_firing', 'Alerts firing now, per rule.', 'gauge', () =>
      [...firing()].map(([rule, value]) => ({ labels: { rule }, value })),
    ),
    labelled(
      'picluster_alert_notifications_total',
      'Alert messages per channel: sent (accepted by the receiver), failed (given up after every retry), retried (tries that failed), dropped (queue full).',
      'counter',
      () =>
        channels().flatMap((ch) =>
          RESULTS.map((result) => ({ labels: { channel: ch.name, result }, value: ch.stats[result] })),
        ),
    ),
    labelled(
      'picluster_alert_channel_queue',
      'Alert messages waiting per channel (held by quiet hours included).',
      'gauge',
      () => channels().map((ch) => ({ labels: { channel: ch.name }, value: ch.queued + ch.held })),
    ),
  ];
}
