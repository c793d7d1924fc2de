// Reads the small text files the kernel renders under /proc and /sys. A missing file is a normal
// result (undefined: the machine does not have that source); any other failure is logged at
// debug level and also gives undefined, so one bad sensor never fails a whole sample.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { DebugLogger } from './debug-logger.js';

/** True for the errors that mean "this file does not exist here". */
export function isMissingFileError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Reads a procfs file synchronously. procfs text is generated from kernel memory in microseconds,
 * and a sync read costs about a fifth of the CPU of `fs.promises.readFile` (which makes four
 * thread-pool round trips per file), so blocking the event loop here is cheaper than not.
 */
export function readKernelTextSync(path: string, logger: DebugLogger): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    // Swallowed on purpose: the caller reports the field as absent (see the file header).
    if (!isMissingFileError(err)) logger.debug({ err, path }, 'node: cannot read kernel file; field left absent');
    return undefined;
  }
}

/**
 * Reads a sysfs device attribute asynchronously: unlike procfs, a read can wait on hardware
 * (an ACPI `_TMP` method, the Pi firmware mailbox, x86 APERF/MPERF sampling behind
 * `scaling_cur_freq`), which must not block the event loop.
 */
export async function readKernelText(path: string, logger: DebugLogger): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    // Swallowed on purpose: the caller reports the field as absent (see the file header).
    if (!isMissingFileError(err)) logger.debug({ err, path }, 'node: cannot read kernel file; field left absent');
    return undefined;
  }
}
