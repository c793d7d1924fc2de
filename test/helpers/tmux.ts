// A tmux server of a test's own (its socket named after the test process and `name`), for tests of
// what a real terminal shows; killed when the test ends. Undefined when tmux is missing (the test
// skips, or fails under CI=true).
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { requirePrograms } from './require-tool.js';

export function tmuxServer(t: TestContext, name: string): ((...args: string[]) => string) | undefined {
  const tools = requirePrograms(t, ['tmux'], 'apt-get install tmux');
  if (!tools) return undefined;
  const socket = `picluster-${name}-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync(tools.tmux as string, ['-L', socket, ...args], { encoding: 'utf8' });
  t.after(() => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
  });
  return tmux;
}
