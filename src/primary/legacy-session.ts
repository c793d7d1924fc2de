// One connection of a node of the original Python cluster (LEGACY-PROTOCOL.md): `\r`-ended JSON
// under the native limits (message size, handshake time, then 20 s of silence at most), answering
// only what it is asked. It reports into the same registry, store and vitals ingest as a native
// node, marked legacy and never acknowledged (legacy nodes have no acks); which node it reports
// for is LegacyNodes' decision (legacy-nodes.ts).

import type { Socket } from 'node:net';
import { systemClock } from '../connection/clock.js';
import { DEFAULT_CONNECTION } from '../connection/connection-options.js';
import { formatPeerAddress, ipOfPeerAddress } from '../connection/peer-address.js';
import { ReadPause, SessionRateGate } from '../connection/rate-gate.js';
import { disconnectionOf } from '../connection/socket-errors.js';
import { type DisconnectionCode, ProtocolError } from '../protocol/errors.js';
import {
  encodeLegacyMessage,
  type LegacyDecoder,
  type LegacyMessage,
  parseLegacyBaseInfo,
  parseLegacyVitals,
} from '../protocol/legacy-codec.js';
import type { Message, VitalsPayload } from '../protocol/messages.js';
import type { LegacyNodes } from './legacy-nodes.js';
import type { NodeHost } from './node-host.js';
import type { NodeRecord } from './registry.js';

type LegacySessionState = 'opening' | 'open' | 'closed';

// What the rate gate sees of a legacy message: a sample, an ask (answered, so a request), or else.
const AS_SAMPLE = { t: 'vitals' } as Message;
const AS_REQUEST = { t: 'info', id: 1 } as Message;
const AS_OTHER = { t: 'message' } as Message;

export interface LegacySessionOptions {
  decoder: LegacyDecoder;
  handshakeMs: number;
  silenceMs: number;
  /** Closed after this long without vitals, ms. */
  idleMs: number;
  releaseHandshake: () => void;
  /** Told each time the connection starts to be held back for its rates (shared by all). */
  onThrottle: () => void;
}

/** One legacy connection. */
export class LegacySession {
  readonly socket: Socket;
  /** "ip:port" of the peer. */
  readonly address: string;
  /** The peer's IP, IPv4-mapped addresses unwrapped. */
  readonly ip: string;
  /** The uuid given on the wire, once asked. */
  uuid: string | undefined;
  /** The node this connection reports for, once it sent `node_baseinfo`. */
  record: NodeRecord | undefined;
  #state: LegacySessionState = 'opening';
  /** The last seq this primary gave one of this node's samples. */
  #lastSeq = 0;
  readonly #nodes: LegacyNodes;
  readonly #host: NodeHost;
  readonly #options: LegacySessionOptions;
  #timer: NodeJS.Timeout;
  /** Refreshed by vitals only: keepalives alone do not hold a connection. */
  readonly #idleTimer: NodeJS.Timeout;
  #handshakeHeld = true;
  /**
   * The same rates as a native node's session (limits.*PerSecond): an unauthenticated door must
   * not let one connection store samples as fast as it can send them.
   */
  readonly #gate: SessionRateGate;
  #pause: ReadPause | undefined;

  constructor(nodes: LegacyNodes, host: NodeHost, socket: Socket, options: LegacySessionOptions) {
    this.#nodes = nodes;
    this.#host = host;
    this.#options = options;
    this.socket = socket;
    this.address = formatPeerAddress(socket.remoteAddress, socket.remotePort);
    this.ip = ipOf(this.address) ?? '';
    // Until the first complete message, the handshake deadline; then the silence limit.
    this.#timer = setTimeout(this.#onTimer, options.handshakeMs);
    this.#timer.unref();
    this.#idleTimer = setTimeout(this.#onIdle, options.idleMs);
    this.#idleTimer.unref();
    this.#gate = new SessionRateGate(host.limits, performance.now(), options.onThrottle);
  }

  start(head: Buffer): void {
    const { socket } = this;
    socket.on('data', this.#socketOnData);
    socket.on('end', this.#socketOnEnd);
    socket.on('error', this.#socketOnError);
    socket.on('close', this.#socketOnClose);
    socket.resume(); // the opening reader paused it
    if (socket.destroyed) this.close('ERR_CLOSED', 'socket was already closed');
    else if (head.length > 0) this.#socketOnData(head);
  }

  /** Ends the connection once; its node, if it was online through it, becomes lost. */
  close(code: DisconnectionCode, reason: string): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    clearTimeout(this.#timer);
    clearTimeout(this.#idleTimer);
    this.#pause?.stop();
    this.#releaseHandshake();
    this.socket.destroy();
    const record = this.record;
    const owned = record !== undefined && this.#nodes.owns(this, record);
    this.#nodes.forget(this);
    if (owned && record.state === 'online') {
      this.#host.setState(record, 'lost', { code });
      this.#host.log.warn({ nodeId: record.id, name: record.name, code, legacy: true }, `node lost: ${reason}`);
    } else {
      this.#host.log.debug({ peer: this.address, code, wasOpen }, `legacy connection closed: ${reason}`);
    }
  }

  #socketOnData = (chunk: Buffer): void => {
    let messages: LegacyMessage[];
    try {
      messages = this.#options.decoder.push(chunk);
    } catch (err) {
      this.#onError(err);
      return;
    }
    for (const message of messages) {
      if (this.#state === 'closed') return;
      try {
        const seen = message.type === 'vitals' ? AS_SAMPLE : message.type === 'info' ? AS_REQUEST : AS_OTHER;
        const pauseMs = this.#gate.admit(seen, performance.now());
        if (pauseMs > 0) {
          this.#pause ??= new ReadPause(this.socket, systemClock);
          this.#pause.extend(pauseMs);
        }
        this.#onMessage(message);
      } catch (err) {
        this.#onError(err);
      }
    }
  };

  #socketOnEnd = (): void => {
    const midMessage = this.#options.decoder.hasPartialMessage;
    this.close(midMessage ? 'ERR_EOF_MID_FRAME' : 'ERR_EOF', `peer ${this.address} closed the connection`);
  };

  #socketOnError = (err: NodeJS.ErrnoException): void => {
    const error = disconnectionOf(err, this.address);
    this.close(error.code, error.message);
  };

  #socketOnClose = (): void => this.close('ERR_EOF', `connection to ${this.address} closed`);

  #onTimer = (): void => {
    const { handshakeMs, silenceMs } = this.#options;
    if (this.#state === 'opening') this.#host.stats.handshakeFailures++;
    const why = this.#state === 'opening' ? `no complete message in ${handshakeMs} ms` : `silent for ${silenceMs} ms`;
    this.close('ERR_PEER_TIMEOUT', why);
  };

  #onIdle = (): void => {
    this.#host.stats.legacyIdleClosed++;
    this.close('ERR_PEER_TIMEOUT', `sent no vitals in ${this.#options.idleMs} ms (legacy.idleMs)`);
  };

  #onError(err: unknown): void {
    if (err instanceof ProtocolError) {
      if (err.code === 'ERR_RATE_LIMITED') {
        this.#host.stats.rateLimited++;
        this.#host.limitedLog.warn(
          'rate limited',
          { peer: this.address, nodeId: this.record?.id, legacy: true },
          `disconnected a legacy node that sent past its limits: ${err.message}`,
        );
      }
      this.close('ERR_PROTOCOL', `protocol error from ${this.address}: ${err.message}`);
    } else {
      this.#host.log.error({ err, peer: this.address }, 'legacy message handling failed');
      this.close('ERR_CLOSED', `handling a message failed: ${(err as Error).message}`);
    }
  }

  #onMessage(message: LegacyMessage): void {
    if (this.#state === 'opening') {
      this.#state = 'open';
      this.#releaseHandshake();
      clearTimeout(this.#timer);
      this.#timer = setTimeout(this.#onTimer, this.#options.silenceMs);
      this.#timer.unref();
    } else {
      this.#timer.refresh();
    }
    if (this.record) this.record.lastSeen = Date.now();
    switch (message.type) {
      case 'info':
        this.#answer(message.payload);
        break;
      case 'node_baseinfo':
        this.record = this.#nodes.bind(this, parseLegacyBaseInfo(message.payload));
        if (this.record === undefined) this.close('ERR_CLOSED', 'no room for another legacy node');
        break;
      case 'vitals':
        this.#idleTimer.refresh();
        this.#onVitals(message.payload);
        break;
      case 'message':
        // The keepalive ("I am still alive, client: <uuid>"): arriving is all it has to do.
        break;
      default:
        // Not in the protocol: ignored (a legacy node reads only the answers it waits for).
        this.#host.log.debug({ peer: this.address, type: message.type }, 'ignored legacy message of unknown type');
    }
  }

  #answer(what: unknown): void {
    switch (what) {
      case 'uuid':
        this.#send('uuid', this.#nodes.uuidFor(this));
        break;
      case 'node_baseinfo':
        this.#send('primary_info', this.#nodes.baseInfo);
        break;
      case 'secondary_details':
        this.#send('secondary_details', this.#nodes.details());
        break;
      default:
        this.#send('bad_message', 'unknown');
    }
  }

  #onVitals(payload: unknown): void {
    const reading = parseLegacyVitals(payload);
    const record = this.record;
    if (!record) {
      this.#host.log.debug({ peer: this.address }, 'dropped vitals sent before node_baseinfo');
      return;
    }
    const receivedAt = Date.now();
    // Past the latest received too, not only the stored: a new connection within the commit
    // window must not reuse the seqs of samples still waiting (they would be skipped as resends).
    this.#lastSeq = Math.max(this.#lastSeq, record.lastSeq, record.vitals?.seq ?? 0) + 1;
    // A legacy sample has no seq and no time: this primary numbers it and files it at receipt.
    // VitalsPayload requires load1/5/15, uptimeS, disks and nets, which a legacy node never
    // sends: they stay absent (the store keeps NULL, /metrics has no series), never invented.
    const sample = { seq: this.#lastSeq, ts: receivedAt, ...reading } as VitalsPayload;
    this.#host.ingest.receive(record, sample, receivedAt);
  }

  #send(type: string, payload: unknown): void {
    if (this.socket.writableLength > DEFAULT_CONNECTION.maxQueuedBytes) {
      this.close('ERR_PROTOCOL', `peer ${this.address} does not read its answers`);
      return;
    }
    this.socket.write(encodeLegacyMessage(type, payload));
  }

  #releaseHandshake(): void {
    if (!this.#handshakeHeld) return;
    this.#handshakeHeld = false;
    this.#options.releaseHandshake();
  }
}

/** The IP of an "ip:port" address, IPv4-mapped IPv6 unwrapped. */
export function ipOf(address: string | null): string | undefined {
  if (address === null) return undefined;
  const ip = ipOfPeerAddress(address);
  // Addresses stored by an older primary kept the IPv4-mapped form.
  return ip.startsWith('::ffff:') ? ip.slice('::ffff:'.length) : ip;
}
