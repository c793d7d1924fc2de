// A small TCP fault proxy for the fault suite (toxiproxy is not installable here, and this kernel
// has no netem): agent → proxy → primary, with "toxics" switchable at run time, per direction
// ('up' = agent→primary, 'down' = primary→agent): latency ± jitter (byte order kept), bandwidth,
// blackhole (bytes held, as a silent network holds retransmissions; closes are held too), slicing
// into tiny chunks written one by one, close after N bytes (a cut mid-frame), reset of every live
// link (RST), and refusing new links. Every change is recorded in the FaultLog.
import net from 'node:net';
import type { FaultLog } from './jepsen-log.js';

export interface Toxics {
  latencyMs: number;
  jitterMs: number;
  /** Bytes per second through the proxy in this direction, all links sharing it; 0 = unlimited. */
  bytesPerSecond: number;
  /** Write at most this many bytes at a time (0 = off), `sliceDelayMs` apart. */
  sliceBytes: number;
  sliceDelayMs: number;
  /** Hold every byte (and close) until lifted. */
  blackhole: boolean;
  /** End each link after this many more bytes in this direction (0 = off); counted from when set. */
  closeAfterBytes: number;
}

export type ProxyDirection = 'up' | 'down';

const NONE: Toxics = {
  latencyMs: 0,
  jitterMs: 0,
  bytesPerSecond: 0,
  sliceBytes: 0,
  sliceDelayMs: 1,
  blackhole: false,
  closeAfterBytes: 0,
};
/** Bytes queued in one direction of a link before its source is paused. */
const HIGH_WATER = 256 * 1024;

class Pipe {
  readonly queue: Array<{ at: number; buf: Buffer }> = [];
  queued = 0;
  forwarded = 0;
  /** Forwarded-byte count at which the link is cut (0 = never). */
  closeAt = 0;
  lastAt = 0;
  timer: NodeJS.Timeout | undefined;
  ended = false;
  constructor(
    readonly proxy: FaultProxy,
    readonly dir: ProxyDirection,
    readonly from: net.Socket,
    readonly to: net.Socket,
  ) {
    this.closeAt = this.toxics.closeAfterBytes;
  }

  get toxics(): Toxics {
    return this.proxy.toxics[this.dir];
  }

  push(chunk: Buffer): void {
    const t = this.toxics;
    const now = Date.now();
    const pieces: Buffer[] = [];
    if (t.sliceBytes > 0)
      for (let i = 0; i < chunk.length; i += t.sliceBytes) pieces.push(chunk.subarray(i, i + t.sliceBytes));
    else pieces.push(chunk);
    for (const buf of pieces) {
      const jitter = t.jitterMs > 0 ? (this.proxy.random() * 2 - 1) * t.jitterMs : 0;
      const ready = now + Math.max(0, t.latencyMs + jitter);
      let at = Math.max(ready, this.lastAt);
      if (t.bytesPerSecond > 0) {
        // One shared wire per direction: a link waits for the bytes of the others.
        at = Math.max(at, this.proxy.wireFreeAt[this.dir]) + (buf.length * 1000) / t.bytesPerSecond;
        this.proxy.wireFreeAt[this.dir] = at;
      }
      if (t.sliceBytes > 0) at += t.sliceDelayMs;
      this.lastAt = at;
      this.queue.push({ at, buf });
      this.queued += buf.length;
    }
    if (this.queued > HIGH_WATER) this.from.pause();
    this.pump();
  }

  pump = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.toxics.blackhole || this.to.destroyed) return;
    const now = Date.now();
    while (this.queue.length > 0) {
      const head = this.queue[0] as { at: number; buf: Buffer };
      if (head.at > now) {
        this.timer = setTimeout(this.pump, Math.max(1, head.at - now));
        break;
      }
      this.queue.shift();
      this.queued -= head.buf.length;
      const limit = this.closeAt;
      if (limit > 0 && this.forwarded + head.buf.length >= limit) {
        const part = head.buf.subarray(0, limit - this.forwarded);
        this.proxy.bytes[this.dir] += part.length;
        this.proxy.captured?.[this.dir].push(part);
        this.forwarded = limit;
        this.proxy.log?.nemesis('proxy: cut a link', { dir: this.dir, atByte: limit, chunkBytes: head.buf.length });
        this.to.end(part);
        this.from.destroy();
        return;
      }
      this.forwarded += head.buf.length;
      this.proxy.bytes[this.dir] += head.buf.length;
      this.proxy.captured?.[this.dir].push(head.buf);
      this.to.write(head.buf);
    }
    if (this.queued <= HIGH_WATER / 2 && this.from.isPaused() && !this.from.destroyed) this.from.resume();
    // The source closed: pass the close on once everything before it is delivered.
    if (this.ended && this.queue.length === 0) this.to.end();
  };
}

interface Link {
  client: net.Socket;
  server: net.Socket;
  pipes: [Pipe, Pipe];
}

export class FaultProxy {
  readonly toxics: Record<ProxyDirection, Toxics> = { up: { ...NONE }, down: { ...NONE } };
  /** When the shared wire of each direction is free again (bandwidth toxic), epoch ms. */
  readonly wireFreeAt: Record<ProxyDirection, number> = { up: 0, down: 0 };
  /** Bytes forwarded so far, per direction, over all links. */
  readonly bytes: Record<ProxyDirection, number> = { up: 0, down: 0 };
  /** Epoch ms of every accepted client connection (connection attempts, seen by the proxy). */
  readonly accepted: number[] = [];
  /** Every byte forwarded, per direction, when made with `capture: true` (what a wiretap sees). */
  readonly captured: Record<ProxyDirection, Buffer[]> | undefined;
  readonly log: FaultLog | undefined;
  readonly random: () => number;
  readonly #target: { host: string; port: number };
  readonly #links = new Set<Link>();
  #server: net.Server | undefined;
  #refuse = false;

  constructor(options: {
    target: { host: string; port: number };
    log?: FaultLog;
    random?: () => number;
    capture?: boolean;
  }) {
    this.#target = options.target;
    this.captured = options.capture ? { up: [], down: [] } : undefined;
    this.log = options.log;
    this.random = options.random ?? options.log?.random ?? Math.random;
  }

  /** Live links. */
  get links(): number {
    return this.#links.size;
  }

  /** Listens on 127.0.0.1 (port 0: any free one); resolves with the port. */
  async start(port = 0): Promise<number> {
    const server = net.createServer({ noDelay: true }, (client) => this.#accept(client));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  /** Changes toxics in one or both directions (unnamed ones keep their value). */
  set(toxics: Partial<Toxics>, dir: ProxyDirection | 'both' = 'both'): void {
    this.log?.nemesis('proxy toxics', { dir, ...toxics });
    const dirs = dir === 'both' ? (['up', 'down'] as const) : [dir];
    for (const d of dirs) Object.assign(this.toxics[d], toxics);
    if (toxics.closeAfterBytes !== undefined) {
      for (const link of this.#links) {
        for (const pipe of link.pipes) {
          if ((dirs as readonly string[]).includes(pipe.dir))
            pipe.closeAt = toxics.closeAfterBytes > 0 ? pipe.forwarded + pipe.queued + toxics.closeAfterBytes : 0;
        }
      }
    }
    // Bytes waiting longer than the new toxics ask (a cap lifted, less latency) go sooner; lifting
    // a blackhole delivers what it held, closes included.
    const now = Date.now();
    for (const d of dirs) if (this.toxics[d].bytesPerSecond === 0) this.wireFreeAt[d] = 0;
    for (const link of this.#links) {
      for (const pipe of link.pipes) {
        const t = this.toxics[pipe.dir];
        if (t.bytesPerSecond === 0 && t.sliceBytes === 0) {
          const latest = now + t.latencyMs + t.jitterMs;
          for (const item of pipe.queue) item.at = Math.min(item.at, latest);
          pipe.lastAt = Math.min(pipe.lastAt, latest);
        }
        pipe.pump();
      }
    }
  }

  /** Back to a clean link in both directions. */
  clear(): void {
    this.set({ ...NONE });
  }

  /** Sends a TCP reset to both ends of every live link. */
  resetAll(): void {
    this.log?.nemesis('proxy: reset every link', { links: this.#links.size });
    for (const link of this.#links) {
      link.client.resetAndDestroy();
      link.server.resetAndDestroy();
    }
  }

  /** Resets new connections at once (true) or forwards them again (false). */
  refuse(on: boolean): void {
    this.log?.nemesis('proxy: refuse new links', { on });
    this.#refuse = on;
  }

  async close(): Promise<void> {
    for (const link of this.#links) {
      link.client.destroy();
      link.server.destroy();
    }
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #accept(client: net.Socket): void {
    this.accepted.push(Date.now());
    client.on('error', () => undefined);
    if (this.#refuse) {
      client.resetAndDestroy();
      return;
    }
    const server = net.connect({ ...this.#target, noDelay: true });
    server.on('error', () => undefined);
    const link: Link = {
      client,
      server,
      pipes: [new Pipe(this, 'up', client, server), new Pipe(this, 'down', server, client)],
    };
    this.#links.add(link);
    for (const pipe of link.pipes) {
      pipe.from.on('data', (chunk: Buffer) => pipe.push(chunk));
      // End or close (reset, refused upstream): passed on after the bytes before it, unless held.
      const ended = () => {
        pipe.ended = true;
        pipe.pump();
        if (client.destroyed && server.destroyed) {
          for (const p of link.pipes) clearTimeout(p.timer);
          this.#links.delete(link);
        }
      };
      pipe.from.on('end', ended);
      pipe.from.on('close', ended);
    }
  }
}
