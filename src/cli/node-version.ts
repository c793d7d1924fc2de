// The first thing the CLI does: a Node.js older than picluster supports stops with one clear line
// (rather than a syntax or API error deep in a dependency). Imported first by main.ts: ES modules
// run in import order, so this runs before the rest of the program does.

/** The oldest Node.js major picluster runs on (package.json "engines"). */
export const MIN_NODE_MAJOR = 20;

/** Why `version` is too old, or undefined. */
export function nodeVersionProblem(version: string = process.versions.node): string | undefined {
  const major = Number(version.split('.')[0]);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return `picluster needs Node.js ${MIN_NODE_MAJOR} or newer; this is Node.js ${version} (${process.execPath}): install a newer one (https://nodejs.org, or your distribution's nodejs package)`;
}

const problem = nodeVersionProblem();
if (problem) {
  process.stderr.write(`picluster: ${problem}\n`);
  process.exit(1);
}
