// The primary's own series on /metrics: node counts, frames and messages, handshakes, stores and
// writers, the web server's streams. Each is read from the primary when a scrape asks (scalar()).

import type { ClusterView } from '../primary/cluster-view.js';
import { labelled, type ScrapeTimeMetric, scalar } from './scrape-metric.js';

const MS_PER_S = 1000;

/** The web server's own counters (live streams). */
export interface WebStats {
  /** Live-stream clients now. */
  streams: number;
  /** Stream requests refused at the cap (503). */
  streamsRefused: number;
}

export function internalMetrics(cluster: ClusterView, web: Readonly<WebStats>): ScrapeTimeMetric[] {
  // Read at each scrape: an HA primary's counters are its term's, and a term begins at a failover.
  const stats = () => cluster.stats;
  const writer = () => cluster.writerStats;
  const ha = () => cluster.leadership;
  return [
    scalar(
      'picluster_ha_leader',
      'HA: 1 while this primary leads the cluster, 0 while it stands by or no primary can lead (absent on a single primary).',
      'gauge',
      () => {
        const view = ha();
        return view === undefined ? undefined : view.state === 'leader' ? 1 : 0;
      },
    ),
    scalar(
      'picluster_ha_epoch',
      "HA: the leader's epoch (its etcd election key's create revision) as this primary knows it; 0 when none leads.",
      'gauge',
      () => {
        const view = ha();
        return view === undefined ? undefined : (view.leader?.epoch ?? 0);
      },
    ),
    labelled('picluster_ha_leader_info', 'HA: the leader as this primary knows it (value 1).', 'gauge', () => {
      const leader = ha()?.leader;
      return leader ? [{ labels: { leader: leader.name, address: leader.address }, value: 1 }] : [];
    }),
    scalar(
      'picluster_ha_quorum',
      'HA: 1 while this primary reaches an etcd quorum (some primary can lead), 0 without one.',
      'gauge',
      () => {
        const view = ha();
        return view === undefined ? undefined : view.state === 'no-quorum' ? 0 : 1;
      },
    ),
    scalar(
      'picluster_ha_leader_since_seconds',
      'HA: when this primary first saw the current leader, seconds since the Unix epoch; 0 when none leads.',
      'gauge',
      () => {
        const view = ha();
        return view === undefined ? undefined : (view.leader?.since ?? 0) / MS_PER_S;
      },
    ),
    scalar('picluster_connected_nodes', 'Nodes with a live session.', 'gauge', () => cluster.onlineCount),
    scalar(
      'picluster_known_nodes',
      'Nodes the primary knows (in any state: online, lost, left, pending, denied).',
      'gauge',
      () => cluster.nodeCount,
    ),
    scalar(
      'picluster_frames_received_total',
      'Frames received from authenticated nodes.',
      'counter',
      () => stats().framesIn,
    ),
    scalar(
      'picluster_connections_accepted_total',
      'TCP connections accepted on the cluster port.',
      'counter',
      () => stats().accepted,
    ),
    scalar(
      'picluster_rejected_openings_total',
      'Connections closed before their handshake: no picluster magic, or no opening within the handshake timeout.',
      'counter',
      () => stats().rejectedOpenings,
    ),
    scalar(
      'picluster_handshake_failures_total',
      'Handshakes not finished in time.',
      'counter',
      () => stats().handshakeFailures,
    ),
    scalar(
      'picluster_auth_failures_total',
      'Nodes refused for bad credentials.',
      'counter',
      () => stats().authFailures,
    ),
    scalar(
      'picluster_invalid_messages_total',
      'Native links closed for a bad frame or message (size, JSON, schema, a value outside realistic ranges).',
      'counter',
      () => stats().invalidMessages,
    ),
    scalar(
      'picluster_address_handshakes_refused_total',
      'Connections closed at accept: their address had limits.maxHandshakesPerAddress connections in the handshake.',
      'counter',
      () => stats().addressHandshakesRefused,
    ),
    scalar(
      'picluster_auth_backoffs_total',
      'Addresses put in backoff after limits.authFailuresPerMinute failed proofs within a minute.',
      'counter',
      () => stats().authBackoffs,
    ),
    scalar(
      'picluster_auth_backoff_refused_total',
      'Connections closed at accept because their address was in a failed-proof backoff.',
      'counter',
      () => stats().authBackoffRefused,
    ),
    scalar(
      'picluster_sessions_throttled_total',
      "Times a node's session was held back for sending past its frames, requests or samples per second.",
      'counter',
      () => stats().throttled,
    ),
    scalar(
      'picluster_rate_limited_total',
      'Sessions closed with ERR_RATE_LIMITED: they kept sending past their rates while held back.',
      'counter',
      () => stats().rateLimited,
    ),
    scalar(
      'picluster_nodes_refused_total',
      'New nodes refused at limits.maxNodes or limits.maxPendingNodes (ERR_TOO_MANY_NODES).',
      'counter',
      () => stats().nodesRefused,
    ),
    scalar(
      'picluster_log_lines_suppressed_total',
      'Warnings a peer caused that the log rate limit left out.',
      'counter',
      () => stats().logLinesSuppressed,
    ),
    scalar(
      'picluster_legacy_not_allowed_total',
      'Legacy connections closed: their address is outside legacy.allow.',
      'counter',
      () => stats().legacyNotAllowed,
    ),
    scalar(
      'picluster_legacy_connections_refused_total',
      'Legacy connections closed at legacy.maxConnections.',
      'counter',
      () => stats().legacyConnectionsRefused,
    ),
    scalar(
      'picluster_legacy_nodes_refused_total',
      'Legacy connections closed: a new legacy node past legacy.maxNodes.',
      'counter',
      () => stats().legacyNodesRefused,
    ),
    scalar(
      'picluster_legacy_idle_closed_total',
      'Legacy connections closed after legacy.idleMs without vitals.',
      'counter',
      () => stats().legacyIdleClosed,
    ),
    scalar('picluster_web_streams', 'Live-stream (/api/stream) clients now.', 'gauge', () => web.streams),
    scalar(
      'picluster_web_streams_refused_total',
      'Live-stream requests refused because limits.maxStreams clients were connected (503).',
      'counter',
      () => web.streamsRefused,
    ),
    scalar(
      'picluster_handshakes_waiting',
      'Connections waiting for a handshake slot (all limits.maxHandshakes in use).',
      'gauge',
      () => stats().handshakesWaiting,
    ),
    scalar(
      'picluster_handshake_queue_dropped_total',
      'Connections closed while waiting for a handshake slot: the wait was full, or took half the handshake timeout.',
      'counter',
      () => stats().handshakeQueueFull + stats().handshakeQueueExpired,
    ),
    scalar(
      'picluster_tls_handshakes_total',
      'TLS handshakes finished on the cluster port.',
      'counter',
      () => stats().tlsHandshakes,
    ),
    scalar(
      'picluster_tls_resumed_total',
      'TLS handshakes on the cluster port that resumed a session (no certificate sent, cheaper).',
      'counter',
      () => stats().tlsResumed,
    ),
    scalar(
      'picluster_tls_failures_total',
      'TLS handshakes on the cluster port that failed (a missing or untrusted node certificate, garbage, a timeout).',
      'counter',
      () => stats().tlsFailures,
    ),
    scalar(
      'picluster_reconnects_total',
      'Sessions of nodes the primary already knew.',
      'counter',
      () => stats().reconnects,
    ),
    scalar(
      'picluster_vitals_duplicates_total',
      'Vitals samples received again after being stored (resends after a reconnect).',
      'counter',
      () => stats().duplicates,
    ),
    scalar(
      'picluster_vitals_stored_total',
      'Vitals samples committed to the store.',
      'counter',
      () => writer()?.samples,
    ),
    scalar('picluster_store_commits_total', 'Vitals transactions committed.', 'counter', () => writer()?.commits),
    scalar(
      'picluster_store_busy_retries_total',
      'Vitals commits retried because another process held the database lock.',
      'counter',
      () => writer()?.busyRetries,
    ),
    scalar(
      'picluster_store_write_failures_total',
      'Vitals transactions that failed.',
      'counter',
      () => writer()?.failures,
    ),
    scalar(
      'picluster_store_full',
      "1 while the store's disk is full: vitals wait unacknowledged (nodes keep the rest) and are retried.",
      'gauge',
      () => writer()?.full,
    ),
    scalar(
      'picluster_store_full_retries_total',
      'Vitals commits retried because the disk of the store was full.',
      'counter',
      () => writer()?.fullRetries,
    ),
    scalar(
      'picluster_data_dir_free_bytes',
      "Bytes free on the data dir's disk (for an unprivileged writer), at the last reading.",
      'gauge',
      () => cluster.disk?.freeBytes,
    ),
    scalar(
      'picluster_data_dir_size_bytes',
      "Size of the data dir's disk, in bytes.",
      'gauge',
      () => cluster.disk?.totalBytes,
    ),
    scalar(
      'picluster_store_node_changes_held',
      'Node state changes and events waiting for the store (locked by another process, or its disk full).',
      'gauge',
      () => cluster.nodeWriterStats?.held,
    ),
    scalar(
      'picluster_store_node_changes_dropped_total',
      'Node changes dropped: more were held for a locked database than its bound (100,000).',
      'counter',
      () => cluster.nodeWriterStats?.dropped,
    ),
    // A gauge of the latest commit: the writer keeps only that duration, and a summary or
    // histogram needs every commit observed as it happens (a hook in VitalsWriter).
    scalar('picluster_store_write_seconds', 'Duration of the latest vitals commit, in seconds.', 'gauge', () => {
      const stats = writer();
      return stats && stats.commits > 0 ? stats.lastCommitMs / MS_PER_S : undefined;
    }),
  ];
}
