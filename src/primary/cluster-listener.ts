// The cluster port: accepts connections, caps those still in their handshake, reads each one's
// opening within the handshake deadline (ARCHITECTURE.md, "Opening") and hands it on: the picluster
// magic to the native sessions, `{` to the legacy nodes (plaintext always: the original nodes
// cannot speak TLS), a TLS ClientHello (0x16) through a TLS handshake and then the same rules
// inside it. With TLS on, a plaintext magic gets one `error` frame ERR_TLS_REQUIRED and is closed;
// with it off, a ClientHello is closed. Nothing is written before the opening is known.

import net from 'node:net';
import tls from 'node:tls';
import type { LogLimiter } from '../common/log-limiter.js';
import type { Logger } from '../common/logger.js';
import { formatPeerAddress } from '../connection/peer-address.js';
import { encodeFrame } from '../protocol/frame-encoder.js';
import type { AuditTrail } from './audit-trail.js';
import type { PrimaryStats } from './node-host.js';
import { readOpening } from './opening.js';
import type { PeerGuard } from './peer-guard.js';

/** Takes a connection after its opening: `head` are the bytes read past it. */
export type Acceptor = (socket: net.Socket, head: Buffer, handshakeMs: number, release: () => void) => void;

export interface ClusterTls {
  /** PEM. */
  cert: string;
  key: string;
  /** Session ticket keys (48 bytes), kept across restarts so nodes resume their sessions. */
  ticketKeys: Buffer;
  /** PEM of the CA that signs nodes' certificates; set, a node must present one (mutual TLS). */
  clientCa: string | undefined;
}

export interface ClusterListenerOptions {
  port: number;
  bind: string;
  handshakeTimeoutMs: number;
  maxConnections: number;
  maxHandshakes: number;
  /** TLS on the port: what to serve, and the cluster CA whose certificates nodes must present (mutual TLS). */
  tls: ClusterTls | undefined;
  native: Acceptor;
  /** Nodes of the original protocol, when legacy support is on. */
  legacy: Acceptor | undefined;
  stats: PrimaryStats;
  /** TLS failures are counted per address here (`tls-failed` events, once a minute). */
  audit: Pick<AuditTrail, 'count'>;
  /** Limits per source address: connections in their handshake, backoff after failed proofs. */
  peers: PeerGuard;
  logger: Logger;
  /** Warnings a peer can cause, at most a few a minute each. */
  limitedLog: LogLimiter;
}

/** A connection waiting for a handshake slot: since when, and how to end its count for its address. */
interface Waiting {
  socket: net.Socket;
  since: number;
  ended: () => void;
}

/** Connections that may wait for a handshake slot, per slot (`maxHandshakes`). */
const WAITING_PER_HANDSHAKE = 4;

export class ClusterListener {
  readonly #options: ClusterListenerOptions;
  readonly #log: Logger;
  readonly #sockets = new Set<net.Socket>();
  /**
   * Connections accepted while `maxHandshakes` were under way, paused (nothing read), oldest
   * first, with when they arrived: they start as soon as a handshake ends, so a reconnect storm
   * waits here instead of being reset and redialling (each redial costs the node a TLS hello).
   */
  readonly #waiting: Waiting[] = [];
  readonly #server: net.Server;
  readonly #tlsServer: tls.Server | undefined;
  /** TLS handshakes under way, by peer address and port: how the TLS server's events are told apart. */
  readonly #pendingTls = new Map<
    string,
    { fail: (why: string, err?: unknown) => void; secured: (s: tls.TLSSocket) => void }
  >();
  #handshakes = 0;
  #accepting = false;
  /** Kinds of refused openings already logged (each once). */
  readonly #logged = new Set<string>();

  constructor(options: ClusterListenerOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.#onSocket(socket));
    this.#server.maxConnections = options.maxConnections;
    if (options.tls) {
      const { cert, key, ticketKeys, clientCa } = options.tls;
      this.#tlsServer = tls.createServer({
        cert,
        key,
        ticketKeys,
        // Node's default derives it from the command line: a restart with other flags would then
        // refuse every ticket the nodes hold.
        sessionIdContext: 'picluster-cluster-port',
        ca: clientCa,
        minVersion: 'TLSv1.2',
        // Checked after the handshake, so a refused node hears why (an error frame), not just a reset.
        requestCert: clientCa !== undefined,
        rejectUnauthorized: false,
        handshakeTimeout: options.handshakeTimeoutMs,
      });
      this.#tlsServer.on('secureConnection', (secure: tls.TLSSocket) => {
        const pending = this.#pendingTls.get(peerKey(secure));
        if (pending) pending.secured(secure);
        else secure.destroy();
      });
      this.#tlsServer.on('tlsClientError', (err: Error, secure: tls.TLSSocket) => {
        this.#pendingTls.get(peerKey(secure))?.fail(err.message, err);
        secure.destroy();
      });
    }
  }

  /** The port listened on (after listen). */
  get port(): number {
    return (this.#server.address() as net.AddressInfo | null)?.port ?? this.#options.port;
  }

  async listen(): Promise<void> {
    const server = this.#server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A backlog of 4,096: 10,000 nodes joining at once overflowed Node's default 511.
      server.listen({ port: this.#options.port, host: this.#options.bind, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#log.error({ err }, 'cluster listener error'));
    this.#accepting = true;
  }

  /** Takes no more connections; resolves once the port is closed. */
  close(): Promise<void> {
    this.#accepting = false;
    return new Promise((resolve) => (this.#server.listening ? this.#server.close(() => resolve()) : resolve()));
  }

  /** Destroys every socket still open (after the sessions had their chance to close). */
  destroyAll(): void {
    this.#waiting.length = 0;
    for (const socket of this.#sockets) socket.destroy();
  }

  #onSocket(socket: net.Socket): void {
    const { stats } = this.#options;
    stats.accepted++;
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // Until a Connection owns it, socket errors only mean "gone".
    socket.on('error', () => socket.destroy());
    if (!this.#accepting) {
      socket.destroy();
      return;
    }
    const address = socket.remoteAddress ?? '';
    const refusal = this.#options.peers.refusal(address);
    if (refusal !== undefined) {
      this.#options.limitedLog.warn(
        `refused ${refusal}`,
        { address, limit: refusal === 'handshakes' ? 'maxHandshakesPerAddress' : 'authFailuresPerMinute' },
        refusal === 'handshakes'
          ? 'closed a connection: its address already has limits.maxHandshakesPerAddress connections in the handshake'
          : 'closed a connection: its address failed the handshake too often and waits out a backoff',
      );
      socket.destroy();
      return;
    }
    // Counted against its address until its handshake ends or it closes.
    const ended = this.#options.peers.opened(address);
    socket.once('close', ended);
    if (this.#handshakes >= this.#options.maxHandshakes) {
      if (this.#waiting.length >= this.#options.maxHandshakes * WAITING_PER_HANDSHAKE) {
        stats.handshakeQueueFull++;
        socket.destroy();
        return;
      }
      socket.pause();
      this.#waiting.push({ socket, since: performance.now(), ended });
      stats.handshakesWaiting = this.#waiting.length;
      return;
    }
    void this.#start(socket, ended);
  }

  /** The next waiting connections, while there is room; those that waited too long or left are dropped. */
  #startWaiting(): void {
    const { stats, handshakeTimeoutMs } = this.#options;
    while (this.#handshakes < this.#options.maxHandshakes && this.#waiting.length > 0) {
      const { socket, since, ended } = this.#waiting.shift() as Waiting;
      if (socket.destroyed) continue;
      // Its node, on the same handshake timeout, has too little of it left for TLS and auth: it
      // will give up and dial again, so the slot goes to a fresher one.
      if (performance.now() - since > handshakeTimeoutMs / 2) {
        stats.handshakeQueueExpired++;
        socket.destroy();
        continue;
      }
      socket.resume();
      void this.#start(socket, ended);
    }
    stats.handshakesWaiting = this.#waiting.length;
  }

  async #start(socket: net.Socket, ended: () => void): Promise<void> {
    this.#handshakes++;
    const startedAt = performance.now();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      ended();
      socket.off('close', ended); // kept for the link's whole life otherwise (10,000 closures)
      this.#handshakes--;
      if (this.#waiting.length > 0) this.#startWaiting();
    };
    const remainingMs = () => Math.max(1, this.#options.handshakeTimeoutMs - (performance.now() - startedAt));
    try {
      const opening = await readOpening(socket, this.#options.handshakeTimeoutMs);
      if (opening.kind === 'legacy' && this.#options.legacy) {
        this.#options.legacy(socket, opening.rest, remainingMs(), release);
      } else if (opening.kind === 'tls' && this.#options.tls) {
        this.#acceptTls(socket, opening.rest, remainingMs, release);
      } else if (opening.kind === 'native' && this.#options.tls) {
        release();
        this.#requireTls(socket);
      } else if (opening.kind === 'native') {
        this.#options.native(socket, opening.rest, remainingMs(), release);
      } else {
        release();
        this.#reject(socket, opening.kind);
      }
    } catch (err) {
      release();
      this.#log.warn({ err }, 'connection setup failed');
      socket.destroy();
    }
  }

  /**
   * The TLS handshake within what is left of the handshake time, then the opening inside it. The
   * socket goes to a (never listening) tls.Server, which verifies a node's certificate for mutual
   * TLS; the server's events find the connection again by its peer address and port.
   */
  #acceptTls(socket: net.Socket, hello: Buffer, remainingMs: () => number, release: () => void): void {
    const key = peerKey(socket);
    const peer = formatPeerAddress(socket.remoteAddress, socket.remotePort);
    let settled = false;
    const fail = (why: string, err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      this.#pendingTls.delete(key);
      release();
      this.#options.stats.handshakeFailures++;
      this.#options.stats.tlsFailures++;
      this.#options.audit.count('tls-failed', socket.remoteAddress);
      this.#logOnce(`tls ${why}`, { peer, err }, `TLS handshake failed: ${why} (logged once)`);
      socket.destroy();
    };
    const secured = (secure: tls.TLSSocket) => {
      if (settled) return secure.destroy();
      settled = true;
      clearTimeout(deadline);
      this.#pendingTls.delete(key);
      this.#onSecure(secure, peer, remainingMs, release);
    };
    const deadline = setTimeout(() => fail('not finished within the handshake timeout'), remainingMs());
    deadline.unref();
    socket.once('close', () => fail('closed during the handshake'));
    this.#pendingTls.set(key, { fail, secured });
    // The ClientHello bytes read to tell what the connection is go back for TLS to read.
    socket.unshift(hello);
    this.#tlsServer?.emit('connection', socket);
  }

  #onSecure(secure: tls.TLSSocket, peer: string, remainingMs: () => number, release: () => void): void {
    const { stats } = this.#options;
    stats.tlsHandshakes++;
    if (secure.isSessionReused()) stats.tlsResumed++;
    secure.on('error', () => secure.destroy()); // until a Connection owns it
    if (this.#options.tls?.clientCa !== undefined && !(secure.authorized && secure.getPeerX509Certificate())) {
      // Mutual TLS: the node's certificate was not signed by the cluster CA (or there was none).
      release();
      stats.handshakeFailures++;
      stats.tlsFailures++;
      this.#options.audit.count('tls-failed', secure.remoteAddress);
      const why = secure.authorizationError ? String(secure.authorizationError) : 'no certificate';
      this.#logOnce(
        `client cert ${why}`,
        { peer, reason: why },
        `refused a node whose certificate the cluster CA did not sign: ${why} (logged once)`,
      );
      const message = `this primary admits nodes with a certificate its cluster CA signed (tlsCertFile, tlsKeyFile): ${why}`;
      secure.end(encodeFrame({ t: 'error', p: { code: 'ERR_TLS_UNTRUSTED', message } }));
      setTimeout(() => secure.destroy(), 1000).unref();
      return;
    }
    void readOpening(secure, remainingMs()).then((inner) => {
      if (inner.kind === 'native') {
        this.#options.native(secure, inner.rest, remainingMs(), release);
      } else {
        release();
        this.#reject(secure, inner.kind === 'legacy' ? 'legacy-in-tls' : inner.kind);
      }
    });
  }

  /** A plaintext opening to a primary that wants TLS: one error frame saying so, then closed. */
  #requireTls(socket: net.Socket): void {
    this.#options.stats.rejectedOpenings++;
    const message = 'this primary accepts TLS only on its cluster port: connect with TLS (the default; drop --no-tls)';
    this.#logOnce(
      'plaintext',
      { peer: formatPeerAddress(socket.remoteAddress, socket.remotePort) },
      'refused a node connecting without TLS (logged once)',
    );
    socket.end(encodeFrame({ t: 'error', p: { code: 'ERR_TLS_REQUIRED', message } }));
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  #reject(socket: net.Socket, kind: string): void {
    this.#options.stats.rejectedOpenings++;
    const peer = formatPeerAddress(socket.remoteAddress, socket.remotePort);
    if (kind === 'legacy') {
      this.#options.limitedLog.warn(
        'legacy off',
        { peer },
        'a node of the original protocol connected; legacy support is off (start with --legacy)',
      );
    } else if (kind === 'tls') {
      this.#logOnce(kind, { peer }, 'closed a TLS connection: TLS is off on this primary (--no-tls) (logged once)');
    } else if (kind !== 'closed') {
      const why =
        kind === 'timeout'
          ? `sent no opening within the handshake timeout (${this.#options.handshakeTimeoutMs} ms)`
          : kind === 'legacy-in-tls'
            ? 'spoke the original protocol inside TLS'
            : 'did not open with the picluster magic';
      this.#logOnce('opening', { peer, kind }, `closed a connection that ${why} (logged once)`);
    }
    socket.destroy();
  }

  #logOnce(kind: string, fields: object, message: string): void {
    if (this.#logged.has(kind)) return;
    this.#logged.add(kind);
    this.#log.warn(fields, message);
  }
}

function peerKey(socket: net.Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}
