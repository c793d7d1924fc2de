// The secondary's task settings: lists from flags, environment and TOML; defaults; a kind
// tasks.allow does not know fails at start naming the key; the library checks the same options.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { loadConfig } from '../../../src/cli/config.js';
import { SETTINGS } from '../../../src/cli/settings.js';
import { ConfigError } from '../../../src/protocol/errors.js';
import { addOwnTaskKind, resolveTasksOptions } from '../../../src/secondary/task-setup.js';
import { tempDir } from '../../helpers/cluster.js';

const secondary = { roles: ['secondary' as const], flags: { primary: 'p:1' } };

function tomlFile(t: TestContext, text: string): string {
  const path = join(tempDir(t), 'picluster.toml');
  writeFileSync(path, text);
  return path;
}

describe('task settings', () => {
  it("are the secondary's (off by default) and the primary's scheduling", () => {
    const keys = SETTINGS.filter((s) => s.key.startsWith('tasks.'));
    assert.deepEqual(
      keys.map((s) => [s.key, s.roles]),
      [
        ['tasks.allow', ['secondary']],
        ['tasks.commands', ['secondary']],
        ['tasks.gitDir', ['secondary']],
        ['tasks.plugins', ['secondary']],
        ['tasks.maxConcurrent', ['secondary']],
        ['tasks.perNode', ['primary']],
        ['tasks.timeoutMs', ['primary']],
        ['tasks.ttlMs', ['primary']],
      ],
    );
    assert.deepEqual(
      loadConfig({ roles: ['primary'], flags: { tasksPerNode: '2' }, env: { PICLUSTER_TASKS_TTL_MS: '1h' } })
        .taskScheduling,
      { perNode: 2, timeoutMs: 300_000, ttlMs: 3_600_000 },
    );
    assert.deepEqual(loadConfig({ ...secondary, env: {} }).tasks, {
      allow: [],
      commands: [],
      gitDir: undefined,
      maxConcurrent: 4,
    });
  });

  it('read lists from flags, the environment and TOML', (t) => {
    const fromFlags = loadConfig({
      ...secondary,
      env: {},
      flags: { ...secondary.flags, tasksAllow: 'shell, os.update', tasksCommands: '/usr/bin/uptime,df' },
    });
    assert.deepEqual(
      [fromFlags.tasks.allow, fromFlags.tasks.commands],
      [
        ['shell', 'os.update'],
        ['/usr/bin/uptime', 'df'],
      ],
    );
    const fromEnv = loadConfig({
      ...secondary,
      env: {
        PICLUSTER_TASKS_ALLOW: 'node.reboot',
        PICLUSTER_TASKS_MAX_CONCURRENT: '2',
        PICLUSTER_TASKS_GIT_DIR: '/srv',
      },
    });
    assert.deepEqual(fromEnv.tasks, { allow: ['node.reboot'], commands: [], gitDir: '/srv', maxConcurrent: 2 });
    const config = tomlFile(t, '[tasks]\nallow = ["code.pull", "shell"]\ncommands = ["git"]\nmaxConcurrent = 8\n');
    const fromFile = loadConfig({ ...secondary, env: { PICLUSTER_CONFIG: config } });
    assert.deepEqual(fromFile.tasks, {
      allow: ['code.pull', 'shell'],
      commands: ['git'],
      gitDir: undefined,
      maxConcurrent: 8,
    });
  });

  it('a kind tasks.allow does not take fails at start, naming the key', () => {
    assert.throws(
      () => loadConfig({ ...secondary, env: { PICLUSTER_TASKS_ALLOW: 'os.updat' } }),
      (err: unknown) => err instanceof ConfigError && /tasks\.allow/.test(err.message) && /os\.updat/.test(err.message),
    );
    assert.throws(
      () => loadConfig({ ...secondary, env: { PICLUSTER_TASKS_MAX_CONCURRENT: '0' } }),
      (err: unknown) => err instanceof ConfigError && /tasks\.maxConcurrent/.test(err.message),
    );
  });

  it('the library checks its task options at construction', () => {
    assert.throws(() => resolveTasksOptions({ allow: ['node.time'] }), /tasks\.allow names "node\.time"/);
    assert.throws(() => resolveTasksOptions({ maxConcurrent: 0 }), /tasks\.maxConcurrent/);
    assert.throws(() => resolveTasksOptions({ maxOutputBytes: 10 * 1024 * 1024 }), /tasks\.maxOutputBytes/);
    assert.throws(() => resolveTasksOptions({ commands: [''] }), /tasks\.commands/);
    const options = resolveTasksOptions({ allow: ['shell'] });
    assert.throws(() => addOwnTaskKind(options, 'shell', () => 1), /built in/);
    assert.throws(() => addOwnTaskKind(options, 'Camera Snap', () => 1), /lowercase words/);
    addOwnTaskKind(options, 'camera.snapshot', () => 1);
    assert.deepEqual([...options.userKinds.keys()], ['camera.snapshot']);
  });
});
