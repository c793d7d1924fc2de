// The agent's half of the vitals path, in one place: samples are taken on a timer whether online
// or not and appended to the durable outbox (outbox.ts); while a link is attached one pump sends
// the unsent ones strictly in seq order, at most `inFlight` ahead of the primary's cumulative
// acks (the next ack pumps again: a backlog waits in the outbox, not in the socket, so replies and
// pongs never queue behind minutes of vitals on a slow link), waiting for 'drain' when the write
// queue is full. An ack forgets what it covers. ARCHITECTURE.md, "Vitals".

import type { Logger } from '../common/logger.js';
import type { Connection } from '../connection/connection.js';
import type { VitalsSample, VitalsSource } from '../node/vitals-reader.js';
import type { VitalsPayload } from '../protocol/messages.js';
import { saneReading } from '../protocol/sane-vitals.js';
import { drainOrDisconnect, isTooLarge } from './link-writes.js';
import type { Outbox } from './outbox.js';

export interface VitalsSenderOptions {
  outbox: Outbox;
  source: VitalsSource;
  /** Period of samples, ms. */
  periodMs: number;
  /** Samples sent ahead of the acks at most. */
  inFlight: number;
  /** This node's wall clock, epoch ms: each sample is sent with it (`sentAt`). */
  wallClock: () => number;
  logger: Logger;
  /** A sample was taken and kept in the outbox. */
  onSample(sample: VitalsPayload): void;
  /** The primary acknowledged samples up to `seq` as stored. */
  onAck(seq: number): void;
}

/** What the current link has been sent and has acknowledged. */
interface Link {
  conn: Connection;
  /** Highest seq written to this link (samples are sent strictly in order). */
  sentSeq: number;
  ackedSeq: number;
}

export class VitalsSender {
  readonly #options: VitalsSenderOptions;
  readonly #outbox: Outbox;
  readonly #log: Logger;
  #link: Link | undefined;
  #pumping: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Warnings given once per process. */
  readonly #warned = new Set<string>();
  /** Who waits for the next ack (stop() flushing the outbox). */
  #ackWaiters: Array<() => void> = [];

  constructor(options: VitalsSenderOptions) {
    this.#options = options;
    this.#outbox = options.outbox;
    this.#log = options.logger;
  }

  /** Takes a sample now and then every period. */
  start(): void {
    this.#timer = setInterval(() => void this.#takeSample(), this.#options.periodMs);
    void this.#takeSample();
  }

  /** Takes no more samples (those in the outbox stay there). */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  /** A fresh reading, not kept (the answer to `query {what: "vitals"}`). */
  read(): Promise<VitalsSample> {
    return this.#options.source.read();
  }

  /**
   * A primary welcomed this node on `conn` and has stored its samples up to `lastSeq`: forget
   * those, number the next ones past it, and send the rest. Samples no link has seen yet (taken
   * offline, in this process or an earlier one) are renumbered past `lastSeq` if the primary has
   * their seqs already (our outbox was lost or rolled back), not dropped as duplicates.
   */
  attach(conn: Connection, lastSeq: number): void {
    this.#outbox.welcomed(lastSeq);
    this.#link = { conn, sentSeq: lastSeq, ackedSeq: lastSeq };
    void this.#pump();
  }

  /** The primary stored everything up to `seq` (a cumulative `ack`). */
  acknowledged(seq: number): void {
    try {
      this.#outbox.ack(seq);
    } catch (err) {
      // A full disk must not kill the agent: the sample stays in memory, acked or not.
      this.#log.error({ err }, 'cannot record an ack in the outbox');
    }
    const link = this.#link;
    if (link) {
      if (seq > link.ackedSeq) link.ackedSeq = seq;
      // An ack past what this link sent (an older session's samples, stored late) moves both.
      if (seq > link.sentSeq) link.sentSeq = seq;
    }
    this.#options.onAck(seq);
    for (const wake of this.#ackWaiters.splice(0)) wake();
    void this.#pump();
  }

  /** Waits until the outbox is acknowledged, the link is gone, or `timeoutMs` has passed. */
  async waitForAcks(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.#outbox.size > 0 && performance.now() < deadline && this.#link?.conn.state === 'open') {
      await new Promise<void>((done) => {
        const wake = () => {
          clearTimeout(timer);
          done();
        };
        // Wakes at least every 50 ms, to see the link go down.
        const timer = setTimeout(
          () => {
            this.#ackWaiters = this.#ackWaiters.filter((w) => w !== wake);
            done();
          },
          Math.min(50, deadline - performance.now()),
        );
        this.#ackWaiters.push(wake);
      });
    }
  }

  /** Sends unsent samples in seq order up to the in-flight bound; one pump at a time. */
  #pump(): Promise<void> {
    this.#pumping ??= this.#sendUnsent().finally(() => {
      this.#pumping = undefined;
    });
    return this.#pumping;
  }

  async #sendUnsent(): Promise<void> {
    try {
      for (;;) {
        const link = this.#link;
        if (link?.conn.state !== 'open') return;
        const room = this.#options.inFlight - (link.sentSeq - link.ackedSeq);
        if (room <= 0) return;
        const next = this.#outbox.after(link.sentSeq, room);
        if (next.length === 0) return;
        for (const sample of next) {
          if (!this.#send(link.conn, sample)) {
            await drainOrDisconnect(link.conn);
            break;
          }
          link.sentSeq = sample.seq;
        }
      }
    } catch (err) {
      // The link dropped mid-send: the samples stay in the outbox for the next session.
      this.#log.debug({ err }, 'vitals pump stopped');
    }
  }

  /**
   * Sends one sample; false when the write queue is full (wait for 'drain'). A sample over the
   * primary's frame limit (a host with very many disks or interfaces, a small limit) goes without
   * its disk and network lists, or, if even that is too large, is skipped: one sample must not
   * stop every later one (the next stored seq acknowledges past it).
   */
  #send(conn: Connection, stored: VitalsPayload): boolean {
    // Again here: an outbox written by an older agent may hold a sample the primary refuses.
    const sample = this.#fit(stored);
    // `sentAt` goes on the wire only: the primary measures this node's clock with it.
    const sentAt = Math.round(this.#options.wallClock());
    try {
      return conn.send('vitals', { ...sample, sentAt });
    } catch (err) {
      if (!isTooLarge(err)) throw err;
      this.#warnOnce(
        'large',
        { err, seq: sample.seq, disks: sample.disks.length, nets: sample.nets.length },
        "a vitals sample is larger than the primary's frame limit: sent without its disks and networks (logged once)",
      );
      try {
        return conn.send('vitals', { ...sample, disks: [], nets: [], sentAt });
      } catch (again) {
        if (!isTooLarge(again)) throw again;
        this.#log.warn(
          { seq: sample.seq },
          "a vitals sample is too large for the primary's frame limit even without its lists: skipped",
        );
        return true;
      }
    }
  }

  async #takeSample(): Promise<void> {
    let reading: VitalsSample;
    try {
      reading = await this.#options.source.read();
    } catch (err) {
      this.#log.warn({ err }, 'reading vitals failed');
      return;
    }
    if (this.#stopped) return;
    let sample: VitalsPayload;
    try {
      sample = this.#outbox.append(this.#fit({ ...reading, ...this.#agentCost() }));
    } catch (err) {
      this.#log.error({ err }, 'cannot write the sample to the outbox (disk full?); sample lost');
      return;
    }
    this.#options.onSample(sample);
    void this.#pump();
  }

  #lastCpu: { usage: NodeJS.CpuUsage; atMs: number } | undefined;

  /** What monitoring costs this machine: the agent's memory, and its CPU since the last sample. */
  #agentCost(): { agentRssBytes: number; agentCpuPercent?: number } {
    const usage = process.cpuUsage();
    const atMs = performance.now();
    const last = this.#lastCpu;
    this.#lastCpu = { usage, atMs };
    const agentRssBytes = process.memoryUsage.rss();
    if (!last || atMs <= last.atMs) return { agentRssBytes };
    const cpuMs = (usage.user - last.usage.user + usage.system - last.usage.system) / 1000;
    return { agentRssBytes, agentCpuPercent: Math.round((10_000 * cpuMs) / (atMs - last.atMs)) / 100 };
  }

  /** `reading` within the ranges the primary accepts (sane-vitals.ts); what had to change is logged once. */
  #fit<R extends Omit<VitalsPayload, 'seq'>>(reading: R): R {
    const sane = saneReading(reading);
    if (sane.fixed.length > 0) {
      this.#warnOnce(
        `fixed ${sane.fixed.join(',')}`,
        { fields: sane.fixed },
        `vitals outside the realistic ranges the primary accepts were dropped or bounded: ${sane.fixed.join(', ')} (logged once)`,
      );
    }
    return sane.reading;
  }

  #warnOnce(key: string, fields: object, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#log.warn(fields, message);
  }
}
