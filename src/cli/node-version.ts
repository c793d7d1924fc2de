// The first thing the CLI does: a Node.js older than picluster supports stops with one clear line
// (rather than a syntax or API error deep in a dependency). Imported first by main.ts: ES modules
// run in import order, so this runs before the rest of the program does.

/**
 * The oldest Node.js picluster runs on (package.json "engines"): 20.15, the first 20 with
 * `zlib.crc32` (the agent's record logs check each line with it).
 */
export const MIN_NODE = { major: 20, minor: 15 } as const;

/** Why `version` is too old, or undefined. */
export function nodeVersionProblem(version: string = process.versions.node): string | undefined {
  const [major, minor] = version.split('.').map(Number);
  if (Number.isInteger(major) && Number.isInteger(minor)) {
    const m = major as number;
    if (m > MIN_NODE.major || (m === MIN_NODE.major && (minor as number) >= MIN_NODE.minor)) return undefined;
  }
  return `picluster needs Node.js ${MIN_NODE.major}.${MIN_NODE.minor} or newer; this is Node.js ${version} (${process.execPath}): install a newer one (https://nodejs.org, or your distribution's nodejs package)`;
}

const problem = nodeVersionProblem();
if (problem) {
  process.stderr.write(`picluster: ${problem}\n`);
  process.exit(1);
}
