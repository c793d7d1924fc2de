// A raw TCP peer for the bad-input and flood tests: writes exactly the bytes it is given (frames,
// broken frames, floods), decodes what the primary answers without the project's own decoder,
// and can run the real handshake (magic, hello, auth with the cluster token) to attack after it.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { clientProof, randomHex } from '../../src/protocol/auth.js';
import { OPENING_MAGIC } from '../../src/protocol/opening.js';

/** A frame: 4-byte big-endian length, then the body (JSON text or raw bytes). */
export function frame(body: string | Buffer | object): Buffer {
  const bytes = Buffer.isBuffer(body)
    ? body
    : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(bytes.length, 0);
  return Buffer.concat([header, bytes]);
}

export interface RawMessage {
  t: string;
  id?: number;
  re?: number;
  p?: Record<string, unknown>;
}

export class RawPeer {
  readonly socket: net.Socket;
  readonly messages: RawMessage[] = [];
  readonly connectedAt = Date.now();
  closedAt: number | undefined;
  error: NodeJS.ErrnoException | undefined;
  #buffer = Buffer.alloc(0);
  #nextId = 1;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('close', () => {
      this.closedAt = Date.now();
    });
  }

  /** A raw client; with `tls`, inside TLS (the certificate is not checked: raw tests are about the bytes). */
  static connect(
    port: number,
    host = '127.0.0.1',
    options: { tls?: boolean; localAddress?: string } = {},
  ): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const { localAddress } = options;
      const socket = options.tls
        ? tls.connect({
            socket: net.connect({ port, host, localAddress, noDelay: true }),
            rejectUnauthorized: false,
            checkServerIdentity: () => undefined,
          })
        : net.connect({ port, host, localAddress, noDelay: true });
      socket.once(options.tls ? 'secureConnect' : 'connect', () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket));
      });
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  write(bytes: Buffer | string): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(bytes, () => resolve());
    });
  }

  /** Sends a request and returns its id. */
  request(t: string, p: unknown): number {
    const id = this.#nextId++;
    this.socket.write(frame({ t, id, p }));
    return id;
  }

  async waitFor(predicate: (m: RawMessage) => boolean, timeoutMs: number, what: string): Promise<RawMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      if (Date.now() > deadline || (this.closed && !this.messages.find(predicate)))
        throw new Error(
          `no ${what} within ${timeoutMs} ms (closed: ${this.closed}; got ${JSON.stringify(this.messages.map((m) => m.t))})`,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async waitClosed(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`still open after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.closedAt as number;
  }

  /** The opening magic, then the primary's hello. */
  async open(timeoutMs = 5000): Promise<RawMessage> {
    await this.write(OPENING_MAGIC);
    return this.waitFor((m) => m.t === 'hello', timeoutMs, 'hello');
  }

  /** Sends `auth` with the cluster token for `nodeId` (after `open`); returns the request id. */
  authWithToken(token: string, hello: RawMessage, nodeId: string, name = 'raw-peer'): number {
    return this.authWith('token', token, hello, nodeId, name);
  }

  /** Sends `auth` proving `key` (the cluster token, or a node secret) for `nodeId`; returns the request id. */
  authWith(using: 'token' | 'node', key: string, hello: RawMessage, nodeId: string, name = 'raw-peer'): number {
    return this.request('auth', {
      nodeId,
      name,
      labels: {},
      version: 'raw',
      protocol: { min: 1, max: 1 },
      machineId: `raw-${nodeId}`,
      clientNonce: randomHex(32),
      using,
      proof: clientProof(key, String(hello.p?.nonce), nodeId),
    });
  }

  /** The opening magic, hello, and auth with the cluster token (as a new node unless `nodeId` is given); resolves after welcome. */
  async handshake(
    token: string,
    name = 'raw-peer',
    timeoutMs = 5000,
    nodeId = randomUUID(),
  ): Promise<{ nodeId: string; nodeSecret: string }> {
    const hello = await this.open(timeoutMs);
    const id = this.authWithToken(token, hello, nodeId, name);
    const reply = await this.waitFor((m) => m.re === id, timeoutMs, 'welcome');
    if (reply.t !== 'welcome') throw new Error(`auth refused: ${JSON.stringify(reply.p)}`);
    return { nodeId, nodeSecret: String(reply.p?.nodeSecret) };
  }

  destroy(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 4) {
      const length = this.#buffer.readUInt32BE(0);
      if (this.#buffer.length < 4 + length) break;
      const body = this.#buffer.subarray(4, 4 + length).toString('utf8');
      this.#buffer = this.#buffer.subarray(4 + length);
      try {
        this.messages.push(JSON.parse(body) as RawMessage);
      } catch {
        this.messages.push({ t: '<undecodable>' });
      }
    }
  }
}

/** A valid vitals payload with `seq`, plus whatever `extra` fields. */
export function vitalsPayload(seq: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    seq,
    ts: Date.now(),
    cpuPercent: 1,
    ramAvailableBytes: 1,
    swapFreeBytes: 0,
    load1: 0,
    load5: 0,
    load15: 0,
    uptimeS: 1,
    disks: [],
    nets: [],
    ...extra,
  };
}
