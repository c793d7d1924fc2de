// Every default of picluster in one frozen object (ARCHITECTURE.md, "Defaults"). The README's
// configuration table is generated from the settings table that reads these.

export const DEFAULTS = Object.freeze({
  /** Cluster port the primary listens on. */
  port: 12345,
  /** Address the cluster listener binds: all interfaces. */
  bind: '0.0.0.0',
  /** Web port: dashboard, API, /metrics. */
  webPort: 8123,
  /** Address the web server binds: loopback only. */
  webBind: '127.0.0.1',
  dataDir: './data',
  /** Silence after which a side pings, ms; a peer silent for maxMissedHeartbeats of these is dead. */
  heartbeatIntervalMs: 5_000,
  maxMissedHeartbeats: 3,
  /** Time a new connection has to finish the handshake, ms. */
  handshakeTimeoutMs: 5_000,
  /** Period of vitals samples, ms. */
  vitalsPeriodMs: 10_000,
  /** Reconnect backoff: full jitter over min(maxDelayMs, initialDelayMs * factor^attempt). */
  reconnectInitialDelayMs: 250,
  reconnectMaxDelayMs: 8_000,
  reconnectFactor: 2,
  /** A link that stayed up this long resets the backoff, ms. */
  reconnectResetAfterMs: 30_000,
  /**
   * Longest a vitals sample waits on the primary for its commit (and its node for the ack), ms:
   * few nodes mean one commit every two minutes, not one per sample (issue 16: 20 nodes at 0.1 Hz
   * wrote 1.8 GB of WAL a day; 60 s windows 122 MB, 120 s 110 MB). Sooner under load (256
   * waiting) or for a node's backlog (16 waiting, half the agent's in-flight bound).
   */
  vitalsCommitMs: 120_000,
  /** Unacknowledged vitals samples kept by a secondary; the oldest go first. */
  outboxMaxSamples: 10_000,
  /**
   * Vitals samples a secondary sends ahead of the primary's acks. A backlog waits in the outbox,
   * not in the socket, so a slow link is not filled for minutes ahead of replies and pongs.
   */
  vitalsInFlight: 32,
  /** Largest frame body, bytes. */
  maxFrameBytes: 1024 * 1024,
  /** The most `maxFrameBytes` may be set to (and the most a secondary follows from `hello`). */
  maxFrameBytesCeiling: 64 * 1024 * 1024,
  /** Connections the primary holds at once. */
  maxConnections: 20_000,
  /** Connections in the handshake at once. */
  maxHandshakes: 1_000,
  /** Live-stream (/api/stream) clients of the web port at once: each holds a socket and a queue. */
  maxStreams: 100,
  /**
   * Connections one address may hold in their handshake (from accept until welcome or refusal):
   * one host cannot take the slots every other node needs to join.
   */
  maxHandshakesPerAddress: 64,
  /** Failed proofs from one address within a minute before its connections wait out a backoff (1 s, doubling, ≤ 5 min). */
  authFailuresPerMinute: 20,
  /**
   * What one authenticated session may send, per second (a second's worth at once): frames of any
   * kind, requests, vitals samples. Past it the session's reading pauses until it is back within
   * the rate; a sender that runs a second's worth past it anyway is disconnected (ERR_RATE_LIMITED).
   * An agent sends a sample per 10 s; a backlog of 10,000 drains in 20 s at 500/s.
   */
  framesPerSecond: 1_000,
  requestsPerSecond: 100,
  samplesPerSecond: 500,
  /** Nodes the primary knows (any state); a new id past it is refused (ERR_TOO_MANY_NODES). */
  maxNodes: 20_000,
  /** Nodes waiting for approval at once (admission "approve"); past it, new ids are refused. */
  maxPendingNodes: 100,
  /** Addresses legacy nodes may connect from (CIDR): loopback and the private ranges. */
  legacyAllow: Object.freeze([
    '127.0.0.0/8',
    '10.0.0.0/8',
    '172.16.0.0/12',
    '192.168.0.0/16',
    '169.254.0.0/16',
    '::1/128',
    'fc00::/7',
    'fe80::/10',
  ]) as readonly string[],
  /** Legacy connections held at once, and legacy nodes known at once. */
  legacyMaxConnections: 256,
  legacyMaxNodes: 256,
  /**
   * A legacy connection that sends no vitals this long is closed, ms: keepalives alone do not hold
   * it (the original nodes send vitals every 60 s).
   */
  legacyIdleMs: 180_000,
  /**
   * A node whose clock is further than this from the primary's is marked (a `clock-skew` event;
   * `clock-synced` once it is back within half of it), ms.
   */
  clockSkewThresholdMs: 5_000,
  /** The data dir's disk is said to be nearly full below this share free, %... */
  diskWarnFreePercent: 5,
  /** ...or below this many bytes free, whichever is more. */
  diskWarnFreeBytes: 500 * 1024 * 1024,
  /** The shortest cluster or admin token accepted, from any source, characters. */
  minTokenLength: 16,
  /** Default timeout of a request, ms. */
  requestTimeoutMs: 10_000,
  /** Tasks the primary gives one node at once. */
  tasksPerNode: 4,
  /** A task's timeout when its submitter gives none, ms (5 min). */
  taskTimeoutMs: 300_000,
  /** How long a task waits for its node (or any eligible node) to be online, ms (24 h). */
  taskTtlMs: 86_400_000,
  /** Tasks a secondary runs at once; one more is refused with ERR_TASK_BUSY. */
  tasksMaxConcurrent: 4,
  /** Where `picluster status` finds the API. */
  api: 'http://127.0.0.1:8123',
});
