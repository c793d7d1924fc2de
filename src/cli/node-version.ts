// The first thing the CLI does: a Node.js older than picluster supports stops with one clear line
// (rather than a syntax or API error deep in a dependency). Imported first by main.ts: ES modules
// run in import order, so this runs before the rest of the program does.

/**
 * The Node.js versions picluster runs on (package.json "engines": ^20.15.0 || >=22.2.0): those
 * with `zlib.crc32`, which the agent's record logs check each line with. It came in 22.2 and was
 * backported to 20.15; 21 never had it.
 */
export const SUPPORTED_NODE = 'Node.js 20.15+ (20.x) or 22.2+';

/** Why `version` cannot run picluster, or undefined. */
export function nodeVersionProblem(version: string = process.versions.node): string | undefined {
  const [major, minor] = version.split('.').map(Number) as [number, number];
  const supported =
    Number.isInteger(major) &&
    Number.isInteger(minor) &&
    ((major === 20 && minor >= 15) || (major === 22 && minor >= 2) || major >= 23);
  if (supported) return undefined;
  return `picluster needs ${SUPPORTED_NODE}; this is Node.js ${version} (${process.execPath}): install a newer one (https://nodejs.org, or your distribution's nodejs package)`;
}

const problem = nodeVersionProblem();
if (problem) {
  process.stderr.write(`picluster: ${problem}\n`);
  process.exit(1);
}
