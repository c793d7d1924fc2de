// The agents of `npm run bench:tasks` (bench/tasks.ts), in a process of their own so they do not
// share the primary's event loop: N library Secondaries joined to PORT with the token in
// TOKEN_FILE, TLS off (the bench measures the scheduler, not TLS). Each also answers the peer's
// `x-job` request: a durable job done by hand (a journal line on the disk before the work and one
// after, the fsyncs grouped per turn of the event loop as the agent's task journal does), the
// floor a task system on this link could reach.
//   tasks-agents.ts PORT TOKEN_FILE DIR N
// Sends `ready` over IPC once every agent is online.

import { fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Secondary } from '../src/secondary/secondary.js';

const [port, tokenFile, dir, countText] = process.argv.slice(2) as [string, string, string, string];
const token = readFileSync(tokenFile, 'utf8').trim();
const agents: Secondary[] = [];
let online = 0;
const count = Number(countText);
mkdirSync(dir, { recursive: true });
for (let i = 0; i < count; i++) {
  const dataDir = join(dir, `agent-${i}`);
  const journal = openSync(join(dir, `jobs-${i}.jsonl`), 'a');
  const agent = new Secondary({
    primary: `127.0.0.1:${port}`,
    dataDir,
    name: `bench-${i}`,
    token,
    tls: false,
    vitalsPeriodMs: 10_000,
    tasks: { maxConcurrent: 1000 },
  });
  // Grouped fsyncs, as the agent's own journal does: one for the lines written in a turn.
  let syncing: Promise<void> | undefined;
  const durable = () => {
    syncing ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        syncing = undefined;
        fsyncSync(journal);
        resolve();
      }),
    );
    return syncing;
  };
  agent.handle('x-job', async (payload) => {
    const { id } = payload as { id: string };
    writeSync(journal, `${JSON.stringify({ started: id })}\n`);
    await durable();
    const result = { wallMs: Date.now() };
    writeSync(journal, `${JSON.stringify({ done: id, result })}\n`);
    await durable();
    return result;
  });
  agent.once('online', () => {
    if (++online === count) process.send?.({ ready: true });
  });
  agents.push(agent);
}
await Promise.all(agents.map((a) => a.start()));
process.on('disconnect', () => {
  void Promise.all(agents.map((a) => a.stop())).finally(() => process.exit(0));
});
