// Samples a machine's vitals for the `vitals` message: fork-free reads of /proc, /sys and statfs
// (well under a millisecond of CPU), cheap enough to run every few seconds on a Pi Zero. A source
// the machine lacks (no thermal zone, no cpufreq, not a Pi) leaves its field absent.

import { readFileSync } from 'node:fs';
import { realpath, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { VitalsPayload } from '../protocol/messages.js';
import { type DebugLogger, silentDebugLogger } from './debug-logger.js';
import {
  type CpuTicks,
  computeCpuPercent,
  findMountPoint,
  parseCpuTicks,
  parseLoadavg,
  parseMeminfo,
  parseMountPoints,
  parseNetDev,
  parseUptimeS,
} from './proc-parsers.js';
import { readKernelText, readKernelTextSync } from './read-kernel-text.js';
import { findCpuThermalZone } from './thermal-zone.js';
import { type ExecFileText, execFileText, ThrottleReader } from './throttle-reader.js';

/** One sample as `read()` returns it; the outbox adds `seq`. */
export type VitalsSample = Omit<VitalsPayload, 'seq'>;

/** Where an agent's samples come from: a VitalsReader on this machine, or a fake in tests. */
export interface VitalsSource {
  read(): Promise<VitalsSample>;
}

export interface VitalsReaderOptions {
  /** Directory every /proc and /sys path is read under, so tests can feed fixture trees. Default `/`. */
  root?: string;
  /** The data directory: its filesystem is the one reported in `disks`. */
  dataDir: string;
  /** Runs `vcgencmd get_throttled` on Pis without the sysfs file. Default: execFile, no shell, 2 s timeout. */
  exec?: ExecFileText;
  /** Epoch milliseconds for `ts` and the vcgencmd cache. Default `Date.now`. */
  now?: () => number;
  /** Gets one debug line per error swallowed to leave a field absent. Default: silent. */
  logger?: DebugLogger;
}

const CPUFREQ_CUR_PATH = 'sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq';

export class VitalsReader implements VitalsSource {
  readonly #root: string;
  readonly #dataDir: string;
  readonly #now: () => number;
  readonly #logger: DebugLogger;
  readonly #throttle: ThrottleReader;
  // Before the first read: zero ticks, so the first cpuPercent is the average since boot.
  #lastTicks: CpuTicks = { totalTicks: 0, idleTicks: 0 };
  #lastCpuPercent = 0;
  #thermalZone: Promise<string | undefined> | undefined;

  constructor(options: VitalsReaderOptions) {
    if (typeof options.dataDir !== 'string' || options.dataDir === '') {
      throw new TypeError('VitalsReader: options.dataDir must name the data directory');
    }
    this.#root = options.root ?? '/';
    this.#dataDir = options.dataDir;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? silentDebugLogger;
    this.#throttle = new ThrottleReader({
      root: this.#root,
      exec: options.exec ?? execFileText,
      now: this.#now,
      logger: this.#logger,
    });
  }

  /**
   * Takes one sample. Never throws for a missing optional source.
   * @throws Error naming the file when /proc/stat, /proc/meminfo, /proc/loadavg or /proc/uptime
   * cannot be read or parsed (every Linux machine has them: the root is wrong).
   */
  async read(): Promise<VitalsSample> {
    const ts = Math.trunc(this.#now());
    // The synchronous part runs first and all at once, so concurrent reads cannot interleave
    // between reading /proc/stat and storing its ticks.
    const cpuPercent = this.#readCpuPercent();
    const meminfo = parseMeminfo(this.#readRequired('proc/meminfo'));
    const ramAvailableKb = meminfo.get('MemAvailable');
    const swapFreeKb = meminfo.get('SwapFree');
    if (ramAvailableKb === undefined || swapFreeKb === undefined) {
      throw new Error(`${this.#path('proc/meminfo')} has no MemAvailable or SwapFree line (Linux 3.14+ has both)`);
    }
    const loads = parseLoadavg(this.#readRequired('proc/loadavg'));
    if (loads === undefined) throw new Error(`${this.#path('proc/loadavg')} is not three load averages`);
    const uptimeS = parseUptimeS(this.#readRequired('proc/uptime'));
    if (uptimeS === undefined) throw new Error(`${this.#path('proc/uptime')} does not start with seconds since boot`);
    const netDev = readKernelTextSync(this.#path('proc/net/dev'), this.#logger);

    const [cpuMhz, tempC, throttled, disk] = await Promise.all([
      this.#readCpuMhz(),
      this.#readTempC(),
      this.#throttle.read(),
      this.#readDataDisk(),
    ]);
    return {
      ts,
      cpuPercent,
      ...(cpuMhz === undefined ? {} : { cpuMhz }),
      ramAvailableBytes: ramAvailableKb * 1024,
      swapFreeBytes: swapFreeKb * 1024,
      load1: loads[0],
      load5: loads[1],
      load15: loads[2],
      uptimeS,
      ...(tempC === undefined ? {} : { tempC }),
      ...(throttled === undefined ? {} : { throttled }),
      disks: disk === undefined ? [] : [disk],
      nets: netDev === undefined ? [] : parseNetDev(netDev),
    };
  }

  #path(relative: string): string {
    return join(this.#root, relative);
  }

  #readRequired(relative: string): string {
    const path = this.#path(relative);
    try {
      // Synchronous like every procfs read here (see readKernelTextSync).
      return readFileSync(path, 'utf8');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new Error(`cannot read ${path} (${reason}): vitals need a Linux procfs`, { cause: err });
    }
  }

  #readCpuPercent(): number {
    const ticks = parseCpuTicks(this.#readRequired('proc/stat'));
    if (ticks === undefined) throw new Error(`${this.#path('proc/stat')} has no aggregate "cpu" line`);
    // No tick elapsed since the last read (two reads within one jiffy): repeat the last value.
    this.#lastCpuPercent = computeCpuPercent(this.#lastTicks, ticks) ?? this.#lastCpuPercent;
    this.#lastTicks = ticks;
    return this.#lastCpuPercent;
  }

  async #readCpuMhz(): Promise<number | undefined> {
    const kHz = Number((await readKernelText(this.#path(CPUFREQ_CUR_PATH), this.#logger))?.trim() || Number.NaN);
    return Number.isFinite(kHz) && kHz > 0 ? kHz / 1000 : undefined;
  }

  async #readTempC(): Promise<number | undefined> {
    this.#thermalZone ??= findCpuThermalZone(this.#root, this.#logger);
    const zone = await this.#thermalZone;
    if (zone === undefined) return undefined;
    const milliC = Number((await readKernelText(join(zone, 'temp'), this.#logger))?.trim() || Number.NaN);
    const tempC = milliC / 1000;
    // A sensor not ready yet may report nonsense (-273150 or an error code); leave it absent.
    return Number.isFinite(tempC) && tempC > -273.15 && tempC < 1000 ? tempC : undefined;
  }

  async #readDataDisk(): Promise<VitalsSample['disks'][number] | undefined> {
    let dataDir: string;
    let stats: Awaited<ReturnType<typeof statfs>>;
    try {
      dataDir = await realpath(this.#dataDir);
      stats = await statfs(dataDir);
    } catch (err) {
      // Swallowed on purpose: a missing or unreadable data dir leaves disks empty, never fails the sample.
      this.#logger.debug({ err, path: this.#dataDir }, 'node: cannot statfs the data dir; disks left empty');
      return undefined;
    }
    const freeBytes = stats.bavail * stats.bsize;
    const totalBytes = stats.blocks * stats.bsize;
    if (!Number.isSafeInteger(freeBytes) || !Number.isSafeInteger(totalBytes)) return undefined;
    const mounts = readKernelTextSync(this.#path('proc/mounts'), this.#logger);
    const mount = findMountPoint(mounts === undefined ? [] : parseMountPoints(mounts), dataDir);
    return { mount, freeBytes, totalBytes };
  }
}
