// Whether a process is still there, for tests that check a program's children were killed.
import { readFileSync } from 'node:fs';

/** True while `pid` is a live process; a zombie waiting for its reaper counts as gone. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false; // ESRCH: no such process
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false; // gone between the two looks
  }
}
