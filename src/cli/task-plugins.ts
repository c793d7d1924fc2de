// Task kinds of a node's own, from files named in its config (`tasks.plugins`): each file is an
// ES module whose default export is a SecondaryPlugin (`{name, setup(secondary)}`) or a function
// `(secondary) => teardown | void`; `setup` registers kinds with `secondary.task(kind, handler)`
// (and may add request handlers or listeners). Loaded at start, before the agent connects: a file
// that is missing or exports neither is a ConfigError naming the file (exit 2).

import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../protocol/errors.js';
import type { Secondary } from '../secondary/secondary.js';
import type { SecondaryPlugin } from '../secondary/secondary-options.js';

export async function loadTaskPlugins(secondary: Secondary, files: readonly string[]): Promise<void> {
  for (const file of files) {
    const path = resolve(file);
    let module: { default?: unknown };
    try {
      module = (await import(pathToFileURL(path).href)) as { default?: unknown };
    } catch (err) {
      throw new ConfigError(`tasks.plugins: cannot load ${path}: ${(err as Error).message.split('\n')[0]}`);
    }
    const exported = module.default;
    let plugin: SecondaryPlugin;
    if (typeof exported === 'function') {
      plugin = { name: basename(path), setup: exported as SecondaryPlugin['setup'] };
    } else if (exported && typeof (exported as SecondaryPlugin).setup === 'function') {
      plugin = exported as SecondaryPlugin;
    } else {
      throw new ConfigError(
        `tasks.plugins: ${path} must export default a function (secondary) => void, or {name, setup(secondary)}`,
      );
    }
    try {
      secondary.use(plugin);
    } catch (err) {
      throw err instanceof ConfigError ? new ConfigError(`tasks.plugins: ${path}: ${err.message}`) : err;
    }
  }
}
