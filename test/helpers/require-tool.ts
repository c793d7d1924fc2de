// Suites that need a system program skip with a printed reason when it is missing, except under
// CI=true, where a skip is a failure (CI installs everything; see .ci/run).
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** The absolute path of `program` on PATH (plus /usr/sbin, /sbin), or undefined. */
export function findProgram(program: string): string | undefined {
  try {
    const path = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;
    return (
      execFileSync('sh', ['-c', `command -v ${program}`], {
        env: { ...process.env, PATH: path },
        encoding: 'utf8',
      }).trim() || undefined
    );
  } catch {
    return undefined; // not installed: the caller skips or fails
  }
}

/**
 * Returns the programs' paths, or skips the test (printing why) when one is missing.
 * Under CI=true a missing program fails the test instead.
 */
export function requirePrograms(
  t: TestContext,
  programs: string[],
  install: string,
): Record<string, string> | undefined {
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const p of programs) {
    const path = findProgram(p);
    if (path) found[p] = path;
    else missing.push(p);
  }
  if (missing.length === 0) return found;
  const reason = `needs ${missing.join(', ')} (install: ${install})`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  console.log(`# skipped: ${reason}`);
  t.skip(reason);
  return undefined;
}

/** True when running as root (network namespaces, nftables). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Skips the test with a printed reason, except under CI=true, where it throws instead (CI has
 * everything a suite needs, so a skip there would hide a broken setup).
 */
export function skipOrFail(t: TestContext, reason: string): undefined {
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
  console.log(`# skipped: ${reason}`);
  t.skip(reason);
  return undefined;
}

/** True when running as root; otherwise skips (or fails under CI=true) naming `what` needs it. */
export function requireRoot(t: TestContext, what: string): boolean {
  if (isRoot()) return true;
  skipOrFail(t, `${what} needs root (uid 0)`);
  return false;
}
