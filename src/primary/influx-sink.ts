// Optional InfluxDB 1.x sink for vitals, beside the SQLite store: samples become line protocol in a
// bounded buffer, and one background loop writes them in batches over the HTTP API, so a slow,
// failing or absent InfluxDB never blocks or crashes the primary. Two layouts: picluster's own
// ('native') and the original Python cluster's ('legacy', LEGACY-PROTOCOL.md), which existing
// Grafana boards read.

import { deadline } from '../common/deadline.js';
import { readBodyHead } from '../common/http-body.js';
import { type Logger, silentLogger } from '../common/logger.js';
import { Backoff } from '../connection/backoff.js';
import { type Clock, systemClock, type Timer } from '../connection/clock.js';
import { ConfigError, InfluxError } from '../protocol/errors.js';
import type { VitalsPayload } from '../protocol/messages.js';
import { formatVitalsLines, type InfluxLayout, LEGACY_RETENTION_POLICY } from './influx-lines.js';

export interface InfluxSinkOptions {
  /** Base URL of the InfluxDB 1.x HTTP API, e.g. `http://127.0.0.1:8086` (a path prefix is kept). */
  url: string;
  /** Database of the native layout. Default 'picluster'. */
  database?: string;
  /** 'native' (measurement picluster_vitals) or 'legacy' (the original's cpu/ram/swap). Default 'native'. */
  layout?: InfluxLayout;
  /** The legacy layout writes to database `${legacyPrefix}node_vitals`. Default 'rpi_cluster_'. */
  legacyPrefix?: string;
  /** Lines per write request at most. Default 5000. */
  batchLines?: number;
  /** Longest a line waits for its write while InfluxDB is healthy, ms. Default 1000. */
  flushIntervalMs?: number;
  /** Lines kept while InfluxDB is away; past it the oldest go (stats.dropped). Default 100_000. */
  maxBufferedLines?: number;
  /** Timeout of each HTTP request, and of the whole last flush in stop(), ms. Default 5000. */
  requestTimeoutMs?: number;
  /** Delay after a failed request: full jitter over min(maxDelayMs, initialDelayMs * 2^attempt). */
  retry?: {
    /** Default 500 ms. */
    initialDelayMs?: number;
    /** Default 30_000 ms. */
    maxDelayMs?: number;
    /** The jitter's source, [0, 1). Default Math.random; tests pin it. */
    random?: () => number;
  };
  logger?: Logger;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Runs the flush timer and the retry delays. Default: the system clock. */
  clock?: Clock;
}

export interface InfluxSinkStats {
  /** Lines InfluxDB accepted. */
  written: number;
  /** Lines given up: pushed out of the full buffer, rejected by InfluxDB (HTTP 400: the whole
   * batch counts, though InfluxDB may have kept its valid lines), or left over by stop(). */
  dropped: number;
  /** Failed requests (writes and database setup). */
  failures: number;
  /** Lines waiting, those of the request in flight included. */
  buffered: number;
}

interface ResolvedOptions {
  database: string;
  layout: InfluxLayout;
  legacyPrefix: string;
  batchLines: number;
  flushIntervalMs: number;
  maxBufferedLines: number;
  requestTimeoutMs: number;
  retryInitialDelayMs: number;
  retryMaxDelayMs: number;
}

export const DEFAULT_INFLUX_SINK: Readonly<ResolvedOptions> = Object.freeze({
  database: 'picluster',
  layout: 'native',
  legacyPrefix: 'rpi_cluster_',
  batchLines: 5000,
  flushIntervalMs: 1000,
  maxBufferedLines: 100_000,
  requestTimeoutMs: 5000,
  retryInitialDelayMs: 500,
  retryMaxDelayMs: 30_000,
});

/** What is read of an answer: an error's text, a query's JSON (SHOW RETENTION POLICIES is small). */
const MAX_ERROR_BYTES = 4096;
const MAX_QUERY_ANSWER_BYTES = 1024 * 1024;

async function readError(res: Response): Promise<InfluxError> {
  // InfluxDB repeats the body's {"error"} in a header; a proxy in front may send only a text page.
  const { text } = await readBodyHead(res, MAX_ERROR_BYTES);
  const message = res.headers.get('x-influxdb-error') || text.trim() || res.statusText;
  return new InfluxError(res.status, message.slice(0, 500));
}

/** The kind of a failure, for logging once per kind: `HTTP 500`, `timeout`, `unreachable (ECONNREFUSED)`. */
function describeFailure(err: unknown): string {
  if (err instanceof InfluxError) return err.status === 200 ? `error: ${err.message}` : `HTTP ${err.status}`;
  const name = (err as { name?: unknown } | undefined)?.name;
  if (name === 'TimeoutError') return 'timeout';
  if (name === 'AbortError') return 'aborted';
  const code = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return `unreachable (${typeof code === 'string' ? code : String((err as Error | undefined)?.message)})`;
}

const quoteIdentifier = (name: string) => `"${name.replace(/[\\"]/g, '\\$&')}"`;

// ---- the sink

type SinkState = 'idle' | 'running' | 'stopping' | 'stopped';
type WriteOutcome = 'written' | 'rejected' | 'failed';

export class InfluxSink {
  /** The database written to. */
  readonly database: string;
  readonly layout: InfluxLayout;
  readonly #options: ResolvedOptions;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #backoff: Backoff;
  /** Aborted when stop()'s time is up: ends the request in flight. */
  readonly #halt = new AbortController();
  #state: SinkState = 'idle';
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #sleeping: { kind: 'tick' | 'backoff'; timer: Timer; resolve: () => void } | undefined;
  /** The database (and in the legacy layout its retention policy) exists. */
  #ready = false;
  // The buffer: lines[head..] wait; the first `inFlight` of them are in the request in flight.
  #lines: string[] = [];
  #head = 0;
  #inFlight = 0;
  /** Lines of the request in flight pushed out of the buffer: dropped only if the request fails. */
  #droppedInFlight = 0;
  #written = 0;
  #dropped = 0;
  #failures = 0;
  /** The failures since the last success, each kind logged once. */
  #outage: { sinceMs: number; attempts: number; kinds: Set<string> } | undefined;
  #overflowLogged = false;
  #rejectionsLogged = new Set<number>();
  #lateWriteLogged = false;

  constructor(options: InfluxSinkOptions) {
    const { retry, logger, fetch: fetchFn, clock, url } = options;
    const o: ResolvedOptions = {
      database: options.database ?? DEFAULT_INFLUX_SINK.database,
      layout: options.layout ?? DEFAULT_INFLUX_SINK.layout,
      legacyPrefix: options.legacyPrefix ?? DEFAULT_INFLUX_SINK.legacyPrefix,
      batchLines: options.batchLines ?? DEFAULT_INFLUX_SINK.batchLines,
      flushIntervalMs: options.flushIntervalMs ?? DEFAULT_INFLUX_SINK.flushIntervalMs,
      maxBufferedLines: options.maxBufferedLines ?? DEFAULT_INFLUX_SINK.maxBufferedLines,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_INFLUX_SINK.requestTimeoutMs,
      retryInitialDelayMs: retry?.initialDelayMs ?? DEFAULT_INFLUX_SINK.retryInitialDelayMs,
      retryMaxDelayMs: retry?.maxDelayMs ?? DEFAULT_INFLUX_SINK.retryMaxDelayMs,
    };
    this.#options = o;
    for (const key of ['batchLines', 'maxBufferedLines', 'flushIntervalMs', 'requestTimeoutMs'] as const) {
      const min = key === 'flushIntervalMs' ? 0 : 1;
      if (!Number.isSafeInteger(o[key]) || o[key] < min) {
        throw new ConfigError(`influx ${key} must be an integer >= ${min}, got ${o[key]}`);
      }
    }
    if (o.layout !== 'native' && o.layout !== 'legacy') {
      throw new ConfigError(`influx layout must be "native" or "legacy", got ${JSON.stringify(o.layout)}`);
    }
    try {
      this.#baseUrl = new URL(url).href.replace(/\/+$/, '');
    } catch (err) {
      throw new ConfigError(`influx url ${JSON.stringify(url)} is not a URL: ${(err as Error).message}`);
    }
    this.layout = o.layout;
    this.database = o.layout === 'legacy' ? `${o.legacyPrefix}node_vitals` : o.database;
    if (!this.database) throw new ConfigError('influx database must not be empty');
    try {
      this.#backoff = new Backoff(
        {
          initialDelayMs: o.retryInitialDelayMs,
          maxDelayMs: o.retryMaxDelayMs,
          factor: 2,
        },
        retry?.random,
      );
    } catch (err) {
      throw new ConfigError(`influx retry: ${(err as Error).message}`);
    }
    this.#fetch = fetchFn ?? globalThis.fetch;
    this.#clock = clock ?? systemClock;
    this.#logger = logger ?? silentLogger;
  }

  get stats(): InfluxSinkStats {
    return { written: this.#written, dropped: this.#dropped, failures: this.#failures, buffered: this.#size };
  }

  /**
   * Creates the database in the background (retried until it works), then flushes every
   * flushIntervalMs. Once stopped, a sink stays stopped.
   */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    this.#loop = this.#run().catch((err: unknown) => {
      this.#logger.error({ err }, 'InfluxDB sink loop failed; vitals are no longer written to InfluxDB');
    });
  }

  /** Buffers the sample's lines (at its time by the link's clock offset, if given); never throws, never waits. */
  write(
    node: { id: string; name: string },
    sample: VitalsPayload & { receivedAt: number },
    clockOffsetMs?: number,
  ): void {
    let lines: string[];
    try {
      lines = formatVitalsLines(this.layout, node, sample, clockOffsetMs);
    } catch (err) {
      // The caller is a message handler that must not fail over a sink: the sample is dropped.
      this.#dropped++;
      this.#logger.debug({ err, nodeId: node?.id }, 'cannot format vitals for InfluxDB; sample dropped');
      return;
    }
    if (this.#state === 'stopped') {
      this.#dropped += lines.length;
      if (!this.#lateWriteLogged) this.#logger.debug({}, 'InfluxDB sink stopped; later vitals are dropped');
      this.#lateWriteLogged = true;
      return;
    }
    for (const line of lines) this.#push(line);
    if (this.#size >= this.#options.batchLines && this.#sleeping?.kind === 'tick') this.#wake();
  }

  /** One last flush, bounded by requestTimeoutMs in all; then the loop ends. Lines left are dropped. */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    this.#state = 'stopping';
    const timeoutMs = this.#options.requestTimeoutMs;
    const deadline = setTimeout(
      () => this.#halt.abort(new DOMException(`InfluxDB did not answer within ${timeoutMs} ms`, 'TimeoutError')),
      timeoutMs,
    );
    this.#wake();
    await this.#loop;
    if (this.#size > 0 && !this.#ready) await this.#setup(this.#halt.signal);
    while (this.#ready && this.#size > 0 && !this.#halt.signal.aborted) {
      if ((await this.#writeBatch(this.#halt.signal)) === 'failed') break;
    }
    clearTimeout(deadline);
    const left = this.#size;
    if (left > 0) {
      this.#dropped += left;
      this.#lines = [];
      this.#head = 0;
      this.#logger.warn({ lines: left, database: this.database }, 'stopping with vitals not written to InfluxDB');
    }
    this.#state = 'stopped';
  }

  get #size(): number {
    return this.#lines.length - this.#head;
  }

  #push(line: string): void {
    this.#lines.push(line);
    if (this.#size <= this.#options.maxBufferedLines) return;
    this.#head++;
    if (this.#inFlight > 0) {
      this.#inFlight--;
      this.#droppedInFlight++;
    } else {
      this.#dropped++;
    }
    if (!this.#overflowLogged) {
      this.#logger.warn(
        { maxBufferedLines: this.#options.maxBufferedLines, database: this.database },
        'InfluxDB buffer full: dropping the oldest vitals lines (raise maxBufferedLines or bring InfluxDB back)',
      );
      this.#overflowLogged = true;
    }
    this.#compact();
  }

  #compact(): void {
    if (this.#head >= 1024 && this.#head * 2 >= this.#lines.length) {
      this.#lines = this.#lines.slice(this.#head);
      this.#head = 0;
    }
  }

  async #run(): Promise<void> {
    // Draining: since the last tick, write until the buffer is empty instead of waiting for a batch.
    let draining = false;
    while (this.#state === 'running') {
      if (!this.#ready) {
        const ready = await this.#withTimeout((signal) => this.#setup(signal));
        if (!ready) await this.#sleep('backoff', this.#backoff.next());
      } else if (this.#size === 0 || (!draining && this.#size < this.#options.batchLines)) {
        await this.#sleep('tick', this.#options.flushIntervalMs);
        draining = true;
      } else {
        const outcome = await this.#withTimeout((signal) => this.#writeBatch(signal));
        if (outcome === 'failed') await this.#sleep('backoff', this.#backoff.next());
        else if (this.#size === 0) draining = false;
      }
    }
  }

  /** Runs one request under requestTimeoutMs and stop()'s deadline. */
  async #withTimeout<T>(request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = this.#options.requestTimeoutMs;
    const limit = deadline(
      timeoutMs,
      () => new DOMException(`InfluxDB did not answer within ${timeoutMs} ms`, 'TimeoutError'),
      this.#halt.signal,
    );
    try {
      return await request(limit.signal);
    } finally {
      limit.clear();
    }
  }

  /** Waits `ms` on the clock; stop() (and a full batch, for a tick) ends the wait early. */
  #sleep(kind: 'tick' | 'backoff', ms: number): Promise<void> {
    if (this.#state !== 'running') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#sleeping = undefined;
        resolve();
      }, ms);
      timer.unref?.(); // a sink waiting for its next flush must not keep the process alive
      this.#sleeping = { kind, timer, resolve };
    });
  }

  #wake(): void {
    const sleeping = this.#sleeping;
    if (sleeping === undefined) return;
    this.#sleeping = undefined;
    this.#clock.clearTimeout(sleeping.timer);
    sleeping.resolve();
  }

  async #query(q: string, signal: AbortSignal): Promise<Array<{ series?: Array<{ values?: unknown[][] }> }>> {
    const res = await this.#fetch(`${this.#baseUrl}/query`, {
      method: 'POST',
      body: new URLSearchParams({ q }),
      signal,
    });
    if (!res.ok) throw await readError(res);
    const answer = await readBodyHead(res, MAX_QUERY_ANSWER_BYTES);
    if (answer.cut) throw new InfluxError(200, `${q}: the answer is over ${MAX_QUERY_ANSWER_BYTES} bytes`);
    const body = JSON.parse(answer.text) as {
      results?: Array<{ error?: string; series?: Array<{ values?: unknown[][] }> }>;
    };
    const failed = body.results?.find((r) => r.error !== undefined);
    if (failed) throw new InfluxError(200, `${q}: ${failed.error}`);
    return body.results ?? [];
  }

  /** Creates the database and, in the legacy layout, its retention policy unless one of that name exists. */
  async #setup(signal: AbortSignal): Promise<boolean> {
    const db = quoteIdentifier(this.database);
    try {
      await this.#query(`CREATE DATABASE ${db}`, signal);
      if (this.layout === 'legacy') {
        // The original made this policy with REPLICATION 3; CREATE with other settings fails with
        // "retention policy already exists", so an existing one is left as it is.
        const [result] = await this.#query(`SHOW RETENTION POLICIES ON ${db}`, signal);
        const exists = result?.series?.[0]?.values?.some((row) => row[0] === LEGACY_RETENTION_POLICY);
        if (!exists) {
          await this.#query(
            `CREATE RETENTION POLICY ${quoteIdentifier(LEGACY_RETENTION_POLICY)} ON ${db} DURATION 365d REPLICATION 1 DEFAULT`,
            signal,
          );
        }
      }
    } catch (err) {
      this.#failed('setup', err);
      return false;
    }
    this.#ready = true;
    this.#logger.debug({ database: this.database }, 'InfluxDB database ready');
    this.#succeeded();
    return true;
  }

  /** Sends the oldest batchLines lines; only a failed request keeps them. */
  async #writeBatch(signal: AbortSignal): Promise<WriteOutcome> {
    const count = Math.min(this.#options.batchLines, this.#size);
    const body = this.#lines.slice(this.#head, this.#head + count).join('\n');
    this.#inFlight = count;
    this.#droppedInFlight = 0;
    let outcome: WriteOutcome = 'written';
    try {
      const url = `${this.#baseUrl}/write?db=${encodeURIComponent(this.database)}&precision=ms`;
      const res = await this.#fetch(url, { method: 'POST', body, signal });
      if (res.ok) {
        await readBodyHead(res, MAX_ERROR_BYTES); // read to the end (a 204 has none), so the connection is reused
      } else {
        const err = await readError(res);
        // 400: InfluxDB refused lines (bad line, field type conflict): sending them again would fail again.
        if (err.status !== 400) throw err;
        outcome = 'rejected';
        this.#rejected(err, count);
      }
    } catch (err) {
      outcome = 'failed';
      // The database may be gone (dropped by hand): create it again before the next write.
      if (err instanceof InfluxError && err.status === 404) this.#ready = false;
      this.#failed('write', err);
    }
    const kept = this.#inFlight;
    this.#inFlight = 0;
    if (outcome === 'failed') {
      this.#dropped += this.#droppedInFlight;
      return outcome;
    }
    this.#head += kept;
    this.#compact();
    if (outcome === 'written') this.#written += count;
    else this.#dropped += count;
    this.#succeeded();
    return outcome;
  }

  #rejected(err: InfluxError, lines: number): void {
    const fields = { status: err.status, error: err.message, lines, database: this.database };
    if (this.#rejectionsLogged.has(err.status)) {
      this.#logger.debug(fields, 'InfluxDB rejected a batch of vitals; dropped');
      return;
    }
    this.#rejectionsLogged.add(err.status);
    this.#logger.warn(fields, 'InfluxDB rejected a batch of vitals; dropped (later rejections are logged at debug)');
  }

  #failed(operation: 'setup' | 'write', err: unknown): void {
    this.#failures++;
    this.#outage ??= { sinceMs: this.#clock.monotonicMs(), attempts: 0, kinds: new Set() };
    this.#outage.attempts++;
    const reason = describeFailure(err);
    const kind = `${operation}: ${reason}`;
    const fields = { kind, err, url: this.#baseUrl, database: this.database, buffered: this.#size };
    if (this.#outage.kinds.has(kind)) {
      this.#logger.debug(fields, 'InfluxDB request failed again; retrying with backoff');
      return;
    }
    this.#outage.kinds.add(kind);
    this.#logger.warn(fields, `InfluxDB ${operation} failed (${reason}); vitals stay buffered and are retried`);
  }

  #succeeded(): void {
    this.#backoff.reset();
    const outage = this.#outage;
    if (outage === undefined) return;
    this.#outage = undefined;
    this.#overflowLogged = false;
    this.#logger.info(
      {
        downMs: this.#clock.monotonicMs() - outage.sinceMs,
        failedAttempts: outage.attempts,
        buffered: this.#size,
        dropped: this.#dropped,
        database: this.database,
      },
      'InfluxDB reachable again',
    );
  }
}
