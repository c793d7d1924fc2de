// Free space of the primary's data dir, read every `intervalMs` (statfs: no fork), so a disk that
// is filling up is said before the store runs out of room: below `warnFreePercent` of the disk or
// `warnFreeBytes`, whichever is more, `onLow` once; back above that (plus a margin, so it does not
// flap), `onOk` once. The last reading is kept for /metrics.

import { statfs } from 'node:fs/promises';
import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';

export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
}

export interface DiskWatchOptions {
  dir: string;
  /** Warn below this share of the disk free, %. Default 5. */
  warnFreePercent: number;
  /** Warn below this many bytes free. Default 500 MiB. */
  warnFreeBytes: number;
  /** Default 10 s. */
  intervalMs?: number;
  logger: Logger;
  onLow(space: DiskSpace): void;
  onOk(space: DiskSpace): void;
}

/** Back above the threshold by this share of it before the warning ends. */
const HYSTERESIS = 1.1;

export class DiskWatch {
  readonly #options: DiskWatchOptions;
  #timer: NodeJS.Timeout | undefined;
  #low = false;
  #failed = false;
  /** The last reading (undefined before the first). */
  space: DiskSpace | undefined;

  constructor(options: DiskWatchOptions) {
    this.#options = options;
  }

  /** Reads now, then every interval. */
  async start(): Promise<void> {
    await this.check();
    this.#timer = setInterval(() => void this.check(), this.#options.intervalMs ?? 10_000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The free space under which the warning is on, bytes. */
  thresholdBytes(totalBytes: number): number {
    return Math.max((totalBytes * this.#options.warnFreePercent) / 100, this.#options.warnFreeBytes);
  }

  async check(): Promise<void> {
    let space: DiskSpace;
    try {
      const s = await statfs(this.#options.dir);
      // bavail: what an unprivileged writer gets (the root reserve is not ours to count on).
      space = { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
      this.#failed = false;
    } catch (err) {
      if (!this.#failed)
        this.#options.logger.warn({ err, dir: this.#options.dir }, 'cannot read the free space of the data dir');
      this.#failed = true;
      return;
    }
    this.space = space;
    const threshold = this.thresholdBytes(space.totalBytes);
    if (!this.#low && space.freeBytes < threshold) {
      this.#low = true;
      this.#options.onLow(space);
    } else if (this.#low && space.freeBytes >= threshold * HYSTERESIS) {
      this.#low = false;
      this.#options.onOk(space);
    }
  }
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/**
 * The primary's watch on its data dir's disk (not started): a warning and a `disk-low` event when
 * it runs short, `disk-ok` when it has room again.
 */
export function watchDataDir(
  dataDir: string,
  warn: { freePercent?: number; freeBytes?: number; intervalMs?: number } | undefined,
  log: Logger,
  event: (type: 'disk-low' | 'disk-ok', space: DiskSpace) => void,
): DiskWatch {
  return new DiskWatch({
    dir: dataDir,
    warnFreePercent: warn?.freePercent ?? DEFAULTS.diskWarnFreePercent,
    warnFreeBytes: warn?.freeBytes ?? DEFAULTS.diskWarnFreeBytes,
    intervalMs: warn?.intervalMs,
    logger: log,
    onLow: (space) => {
      log.warn(
        { ...space, dataDir },
        `the data dir's disk is nearly full: ${mib(space.freeBytes)} free of ${mib(space.totalBytes)}`,
      );
      event('disk-low', space);
    },
    onOk: (space) => {
      log.info({ ...space, dataDir }, "the data dir's disk has room again");
      event('disk-ok', space);
    },
  });
}
