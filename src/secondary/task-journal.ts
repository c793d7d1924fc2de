// The agent's durable journal of tasks, `tasks.jsonl` in the data dir: what it took, what came of
// it, and what the primary has acknowledged. It is how a node never runs one key twice, even
// across a crash: a key is journaled (fsync) before the node answers `running`, and a result
// before it is sent. A RecordLog (record-log.ts): checksummed lines, compaction by rename, a
// damaged line costs that record only.
//
// Records: {"e": epoch} the highest primary epoch seen; {"s": {key, taskId, startedAt}} a task
// taken; {"r": result} its result, kept until {"a": taskId} (the primary's task.ack); {"k":
// outcome} a finished key whose result was acknowledged (written by compactions). A key started
// without a result at load (the agent crashed or was killed mid-task) becomes a result `failed`
// ERR_TASK_INTERRUPTED: reported, and never run again.
//
// Bounded: the newest `maxKeys` finished keys are kept at compaction; unacknowledged results at
// most `maxResults` (and `maxResultBytes`), the oldest dropped with a warning.

import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { FinalState, TaskResultPayload } from '../protocol/tasks.js';
import { encodeRecord, isNoSpace, type RecordFs, RecordLog } from './record-log.js';
import { sendableResult } from './task-outcome.js';

/** What is remembered of a finished key once its result is acknowledged. */
export interface KeyOutcome {
  key: string;
  taskId: string;
  state: FinalState;
  startedAt: number;
  endedAt: number;
  error?: { code: string; message: string };
}

interface Started {
  key: string;
  taskId: string;
  startedAt: number;
}

type JournalRecord = { e: number } | { s: Started } | { r: TaskResultPayload } | { a: string } | { k: KeyOutcome };

export const DEFAULT_JOURNAL_BOUNDS = Object.freeze({
  /** Finished keys remembered (the newest), so a key resent late is still not run again. */
  maxKeys: 10_000,
  /** Unacknowledged results kept; the oldest go first. */
  maxResults: 1_000,
  /** ...and their size at most, bytes (a result carries up to 2 × 64 KiB of output). */
  maxResultBytes: 32 * 1024 * 1024,
});

/** Bytes the file may hold past twice its live results before a compaction. */
const COMPACT_SLACK_BYTES = 4 * 1024 * 1024;

export const INTERRUPTED_MESSAGE = 'the agent stopped while the task ran';

export interface TaskJournalOptions {
  maxKeys?: number;
  maxResults?: number;
  maxResultBytes?: number;
  logger?: Logger;
  fs?: RecordFs;
  /** Wall clock for the `endedAt` of interrupted tasks, epoch ms. Default Date.now. */
  wallClock?: () => number;
}

export class TaskJournal {
  readonly file: string;
  readonly #bounds: { maxKeys: number; maxResults: number; maxResultBytes: number };
  readonly #log: Logger;
  readonly #file: RecordLog<JournalRecord>;
  #epoch = 0;
  #damaged = 0;
  /** Keys taken and not finished (this process's running tasks after load), by key. */
  readonly #started = new Map<string, Started>();
  /** Finished keys, oldest first. */
  readonly #keys = new Map<string, KeyOutcome>();
  /** Unacknowledged results by task id, oldest first, with their size in the file. */
  readonly #results = new Map<string, { result: TaskResultPayload; bytes: number }>();
  #resultBytes = 0;
  /** The group fsync under way (see `durable`). */
  #syncing: Promise<void> | undefined;

  constructor(file: string, options: TaskJournalOptions = {}) {
    this.file = file;
    this.#bounds = {
      maxKeys: options.maxKeys ?? DEFAULT_JOURNAL_BOUNDS.maxKeys,
      maxResults: options.maxResults ?? DEFAULT_JOURNAL_BOUNDS.maxResults,
      maxResultBytes: options.maxResultBytes ?? DEFAULT_JOURNAL_BOUNDS.maxResultBytes,
    };
    this.#log = options.logger ?? silentLogger;
    this.#file = new RecordLog(file, options.fs);
    this.#load(options.wallClock ?? Date.now);
    this.#compact();
  }

  /** The highest primary epoch seen. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Records skipped at load because they were damaged. */
  get damaged(): number {
    return this.#damaged;
  }

  /** Unacknowledged results, oldest first. */
  unacknowledged(): TaskResultPayload[] {
    return [...this.#results.values()].map((entry) => entry.result);
  }

  /** The unacknowledged result of a task, if kept. */
  result(taskId: string): TaskResultPayload | undefined {
    return this.#results.get(taskId)?.result;
  }

  /** How a finished key ended; undefined for a key never finished (or long forgotten). */
  outcome(key: string): KeyOutcome | undefined {
    return this.#keys.get(key);
  }

  /** A higher epoch than any seen: durable before it returns. @throws on a write failure */
  raiseEpoch(epoch: number): void {
    if (epoch <= this.#epoch) return;
    this.#file.append({ e: epoch }, true);
    this.#epoch = epoch;
  }

  /**
   * A task taken: written, durable once `durable()` resolves (the reply `running` and the work
   * wait for that). @throws on a write failure
   */
  started(key: string, taskId: string, startedAt: number): void {
    const started = { key, taskId, startedAt };
    this.#file.append({ s: started });
    this.#started.set(key, started);
  }

  /**
   * Resolves once everything written so far is on the disk: one fsync, after the records of this
   * turn of the event loop, for all of them (a group commit: a burst of tasks is not an fsync each).
   * Rejects when the fsync fails.
   */
  durable(): Promise<void> {
    this.#syncing ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        this.#syncing = undefined;
        try {
          this.#file.sync();
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
    return this.#syncing;
  }

  /**
   * A result: written, kept until acknowledged, durable once `durable()` resolves (it is sent
   * only then). A write failure (a full disk) is logged and the result kept in memory: it is sent
   * all the same.
   */
  finished(result: TaskResultPayload): void {
    this.#keep(result);
    try {
      this.#file.append({ r: result });
    } catch (err) {
      this.#log.error(
        { err, file: this.file, taskId: result.taskId },
        'cannot write a task result to the journal (disk full?): it is kept in memory and sent, but lost if the agent stops before the primary acknowledges it',
      );
    }
    this.#bound();
    this.#compactIfLong();
  }

  /**
   * The result to send again for a finished `key` asked for under `taskId`: the one kept when it
   * is still unacknowledged, else a copy under `taskId` (of the full result when kept, else of the
   * outcome remembered), journaled until acknowledged. Undefined for a key never finished.
   */
  replay(key: string, taskId: string): TaskResultPayload | undefined {
    const outcome = this.#keys.get(key);
    if (outcome === undefined) return undefined;
    const kept = this.#results.get(taskId)?.result;
    if (kept?.key === key) return kept;
    const full = this.#results.get(outcome.taskId)?.result;
    const copy: TaskResultPayload = { ...(full ?? outcome), taskId };
    this.finished(copy);
    return copy;
  }

  /** The primary stored the result of `taskId`: forget it (its key's outcome stays). */
  acknowledged(taskId: string): boolean {
    if (!this.#forget(taskId)) return false;
    try {
      this.#file.append({ a: taskId });
    } catch (err) {
      // Not fatal: the result is sent again after a restart, and the primary ignores it.
      this.#log.warn({ err, file: this.file, taskId }, 'cannot write a task ack to the journal');
    }
    this.#compactIfLong();
    return true;
  }

  close(): void {
    this.#file.close();
  }

  #load(wallClock: () => number): void {
    const { records, damaged } = this.#file.read();
    this.#damaged = damaged;
    for (const record of records) {
      if ('e' in record) this.#epoch = Math.max(this.#epoch, record.e);
      else if ('s' in record) this.#started.set(record.s.key, record.s);
      else if ('r' in record) this.#keep(this.#sendable(record.r));
      else if ('a' in record) this.#forget(record.a);
      else if ('k' in record) this.#remember(record.k);
    }
    if (damaged > 0) {
      this.#log.warn(
        { file: this.file, damaged },
        'skipped damaged task journal records (a crash mid-write, or damage on the disk); every other record was read',
      );
    }
    for (const { key, taskId, startedAt } of this.#started.values()) {
      this.#log.warn({ key, taskId }, 'a task was running when the agent stopped: reported as failed, not run again');
      this.#keep({
        taskId,
        key,
        state: 'failed',
        startedAt,
        endedAt: Math.max(startedAt, Math.round(wallClock())),
        error: { code: 'ERR_TASK_INTERRUPTED', message: INTERRUPTED_MESSAGE },
      });
    }
    this.#bound();
  }

  /**
   * A result read from the file as the primary takes it: one kept by a version that did not check
   * (a `constructor` key, nesting too deep) would cost the node its link at every resend.
   */
  #sendable(result: TaskResultPayload): TaskResultPayload {
    const sendable = sendableResult(result);
    if (sendable !== result) {
      this.#log.warn(
        { taskId: result.taskId, key: result.key },
        `a task result in the journal cannot be sent to the primary: reported as failed instead (${sendable.error?.message})`,
      );
    }
    return sendable;
  }

  /** Keeps a result as unacknowledged, and its key as finished. */
  #keep(result: TaskResultPayload): void {
    this.#forget(result.taskId);
    const bytes = encodeRecord({ r: result }).length;
    this.#results.set(result.taskId, { result, bytes });
    this.#resultBytes += bytes;
    this.#started.delete(result.key);
    this.#remember(outcomeOf(result));
  }

  #remember(outcome: KeyOutcome): void {
    this.#keys.delete(outcome.key); // the newest go last
    this.#keys.set(outcome.key, outcome);
  }

  #forget(taskId: string): boolean {
    const entry = this.#results.get(taskId);
    if (entry === undefined) return false;
    this.#results.delete(taskId);
    this.#resultBytes -= entry.bytes;
    return true;
  }

  /** Drops the oldest unacknowledged results past the bounds (their keys stay finished). */
  #bound(): void {
    const { maxResults, maxResultBytes } = this.#bounds;
    for (const [taskId, { result }] of this.#results) {
      if (this.#results.size <= maxResults && this.#resultBytes <= maxResultBytes) break;
      if (this.#results.size === 1) break; // the newest stays, whatever its size
      this.#forget(taskId);
      this.#log.warn(
        { taskId, key: result.key, state: result.state, kept: this.#results.size },
        `dropped the oldest unacknowledged task result: more than ${maxResults} results (or ${maxResultBytes} bytes) waited for the primary`,
      );
    }
  }

  /**
   * Compacts once the file holds twice what is live (and some slack). Never throws: it runs after
   * a record was taken, on the way to sending a result, and a file that cannot be rewritten (an SD
   * card remounted read-only, an I/O error) keeps its old copy, whole; the next call tries again.
   */
  #compactIfLong(): void {
    const live = 1 + this.#started.size + this.#keys.size + this.#results.size;
    if (this.#file.lines > 2 * live + 1000 || this.#file.bytes > 2 * this.#resultBytes + COMPACT_SLACK_BYTES) {
      try {
        this.#compact();
      } catch (err) {
        this.#log.error({ err, file: this.file }, 'cannot compact the task journal: it keeps its old file');
      }
    }
  }

  /** Rewrites the file with what is live; the newest `maxKeys` finished keys are kept. */
  #compact(): void {
    const pending = new Set([...this.#results.values()].map((entry) => entry.result.key));
    // The newest maxKeys finished keys, besides those whose results wait (kept whatever their age).
    let excess = this.#keys.size - pending.size - this.#bounds.maxKeys;
    for (const key of this.#keys.keys()) {
      if (excess <= 0) break;
      if (pending.has(key) || this.#started.has(key)) continue;
      this.#keys.delete(key);
      excess--;
    }
    const records: JournalRecord[] = [{ e: this.#epoch }];
    for (const outcome of this.#keys.values()) if (!pending.has(outcome.key)) records.push({ k: outcome });
    for (const { result } of this.#results.values()) records.push({ r: result });
    for (const started of this.#started.values()) records.push({ s: started });
    try {
      this.#file.rewrite(records);
    } catch (err) {
      // A full disk: the old file stays whole, and says the same (a key started without a result
      // becomes the same interrupted result at the next load).
      if (!isNoSpace(err)) throw err;
      this.#log.error({ err, file: this.file }, 'cannot compact the task journal (disk full?): it keeps its old file');
    } finally {
      // Reopen whatever happened, so later appends do not fail on a closed descriptor.
      this.#file.open();
    }
  }
}

function outcomeOf(result: TaskResultPayload): KeyOutcome {
  const { key, taskId, state, startedAt, endedAt, error } = result;
  return error === undefined
    ? { key, taskId, state, startedAt, endedAt }
    : { key, taskId, state, startedAt, endedAt, error };
}
