// Raspberry Pi throttling flags: read from the firmware's sysfs file (no fork), or, on a Pi whose
// kernel lacks that file, from `vcgencmd get_throttled` at most once a minute. Not a Pi: absent.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { THROTTLE_FLAG_NAMES } from '../protocol/throttle.js';
import type { DebugLogger } from './debug-logger.js';
import { isMissingFileError, readKernelText } from './read-kernel-text.js';

export interface ThrottledFlags {
  now: string[];
  sinceBoot: string[];
}

/** Runs a program without a shell and resolves with its stdout. */
export type ExecFileText = (file: string, args: string[]) => Promise<string>;

export const GET_THROTTLED_PATH = 'sys/devices/platform/soc/soc:firmware/get_throttled';
export const DEVICE_TREE_MODEL_PATH = 'proc/device-tree/model';
/** A successful vcgencmd answer is reused for this long. */
export const VCGENCMD_CACHE_MS = 60_000;
/** After vcgencmd fails, it is not run again for this long. */
export const VCGENCMD_RETRY_AFTER_FAILURE_MS = 600_000;
/** The default exec kills vcgencmd after this long. */
export const VCGENCMD_TIMEOUT_MS = 2_000;

/** Splits the firmware's throttled word into flag names. */
export function decodeThrottled(value: number): ThrottledFlags {
  const flagsAt = (shift: number): string[] => THROTTLE_FLAG_NAMES.filter((_, bit) => (value >>> (bit + shift)) & 1);
  return { now: flagsAt(0), sinceBoot: flagsAt(16) };
}

/**
 * The throttled word from `get_throttled` (the kernel writes it with `%x`: "50005") or from
 * vcgencmd ("throttled=0x50005"). Digits without `0x` are hex: read as decimal, "50005" would name
 * the wrong flags.
 */
export function parseThrottledText(text: string): number | undefined {
  const match = /^(?:throttled=)?(?:0x)?([0-9a-f]{1,8})$/i.exec(text.trim());
  return match?.[1] === undefined ? undefined : Number.parseInt(match[1], 16);
}

/** Reads the model name of the device tree (a Pi's board name), NUL terminator stripped. */
export async function readDeviceTreeModel(root: string, logger: DebugLogger): Promise<string | undefined> {
  const text = await readKernelText(join(root, DEVICE_TREE_MODEL_PATH), logger);
  const model = text?.replace(/\0/g, '').trim();
  return model || undefined;
}

/** The default exec: execFile with a timeout and no shell. */
export function execFileText(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: VCGENCMD_TIMEOUT_MS, maxBuffer: 64 * 1024, encoding: 'utf8' }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
}

export interface ThrottleReaderOptions {
  root: string;
  exec: ExecFileText;
  now: () => number;
  logger: DebugLogger;
}

export class ThrottleReader {
  readonly #options: ThrottleReaderOptions;
  #isPi: Promise<boolean> | undefined;
  #lastAnswer: { flags: ThrottledFlags; atMs: number } | undefined;
  #failedAtMs: number | undefined;
  #inFlight: Promise<ThrottledFlags | undefined> | undefined;

  constructor(options: ThrottleReaderOptions) {
    this.#options = options;
  }

  /** The flags now, or undefined when this machine cannot tell (not a Pi, vcgencmd failing). */
  async read(): Promise<ThrottledFlags | undefined> {
    const { root, logger } = this.#options;
    const path = join(root, GET_THROTTLED_PATH);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isMissingFileError(err)) return (await this.#isRaspberryPi()) ? this.#readVcgencmd() : undefined;
      // Swallowed on purpose: the file exists but the firmware did not answer; flags absent this time.
      logger.debug({ err, path }, 'node: cannot read get_throttled; throttled left absent');
      return undefined;
    }
    const value = parseThrottledText(text);
    if (value !== undefined) return decodeThrottled(value);
    logger.debug({ path, text }, 'node: get_throttled is not a hex word; throttled left absent');
    return undefined;
  }

  #isRaspberryPi(): Promise<boolean> {
    const { root, logger } = this.#options;
    this.#isPi ??= readDeviceTreeModel(root, logger).then((model) => model?.startsWith('Raspberry Pi') === true);
    return this.#isPi;
  }

  #readVcgencmd(): Promise<ThrottledFlags | undefined> {
    const nowMs = this.#options.now();
    // `nowMs >= atMs`: a clock stepped backwards (a Pi without RTC meeting NTP) must not freeze the cache.
    const within = (atMs: number | undefined, ms: number) => atMs !== undefined && nowMs >= atMs && nowMs - atMs < ms;
    if (this.#lastAnswer !== undefined && within(this.#lastAnswer.atMs, VCGENCMD_CACHE_MS)) {
      return Promise.resolve(this.#lastAnswer.flags);
    }
    if (within(this.#failedAtMs, VCGENCMD_RETRY_AFTER_FAILURE_MS)) return Promise.resolve(undefined);
    this.#inFlight ??= this.#askVcgencmd(nowMs).finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #askVcgencmd(nowMs: number): Promise<ThrottledFlags | undefined> {
    const { exec, logger } = this.#options;
    let value: number | undefined;
    let failure: unknown;
    try {
      const stdout = await exec('vcgencmd', ['get_throttled']);
      value = parseThrottledText(stdout);
      if (value === undefined) {
        failure = new Error(`unexpected vcgencmd output: ${JSON.stringify(stdout.slice(0, 100))}`);
      }
    } catch (err) {
      failure = err;
    }
    if (value === undefined) {
      // Swallowed on purpose: throttled is optional; retried after VCGENCMD_RETRY_AFTER_FAILURE_MS.
      logger.debug({ err: failure }, 'node: vcgencmd get_throttled failed; throttled left absent for 10 min');
      this.#lastAnswer = undefined;
      this.#failedAtMs = nowMs;
      return undefined;
    }
    const flags = decodeThrottled(value);
    this.#lastAnswer = { flags, atMs: nowMs };
    this.#failedAtMs = undefined;
    return flags;
  }
}
