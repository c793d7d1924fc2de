// A real etcd cluster for integration tests (issue 17): N members (3 by default) on free
// 127.0.0.1 ports, each in its own temp dir; a member can be SIGKILLed, paused and started again on
// the same dir and ports. Every member is killed and the dirs removed when the test ends, even on
// failure, and when the test process itself is stopped by the runner.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { killOnExit } from './child.js';
import { freePort } from './cluster.js';

const READY_TIMEOUT_MS = 20_000;

export class EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  #child: ChildProcess | undefined;
  #output = '';

  constructor(
    readonly bin: string,
    name: string,
    dataDir: string,
    clientPort: number,
    peerPort: number,
    readonly args: () => string[],
  ) {
    this.name = name;
    this.dataDir = dataDir;
    this.clientUrl = `http://127.0.0.1:${clientPort}`;
    this.peerUrl = `http://127.0.0.1:${peerPort}`;
  }

  get alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The last few KB the member printed (for failure messages). */
  get output(): string {
    return this.#output;
  }

  /** Starts (or restarts, on its existing data dir) this member; does not wait for the cluster. */
  start(): void {
    if (this.alive) throw new Error(`etcd member ${this.name} is already running`);
    const child = spawn(this.bin, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    killOnExit(child);
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  /** SIGKILL (no clean shutdown), waiting for the exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.alive) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT'); // a paused process still dies on SIGKILL; this only keeps ps tidy
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP: the kernel still accepts connections, nobody answers them. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** True when this member is the raft leader (POST /v3/maintenance/status); false if it does not answer. */
  async isRaftLeader(): Promise<boolean> {
    try {
      const res = await fetch(`${this.clientUrl}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
      return res.ok && body.leader !== undefined && body.leader === body.header?.member_id;
    } catch (err) {
      void err; // down or paused: not a leader anyone can reach
      return false;
    }
  }

  /** True when GET /health says this member sees a healthy cluster (a raft leader, a quorum). */
  async healthy(): Promise<boolean> {
    try {
      const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      return res.ok && body.health === 'true';
    } catch (err) {
      void err; // not listening yet, or no quorum: the caller asks again until its deadline
      return false;
    }
  }
}

export class EtcdCluster {
  constructor(
    readonly dir: string,
    readonly members: EtcdMember[],
  ) {}

  /** Client URLs of every member, in member order. */
  get clientUrls(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  member(i: number): EtcdMember {
    const m = this.members[i];
    if (m === undefined) throw new Error(`no etcd member ${i}`);
    return m;
  }

  /** Waits (bounded) until every running member reports a healthy cluster. */
  async waitHealthy(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const running = this.members.filter((m) => m.alive);
      const states = await Promise.all(running.map((m) => m.healthy()));
      if (running.length > 0 && states.every(Boolean)) return;
      if (performance.now() > deadline) {
        const detail = this.members.map(
          (m) => `${m.name} (${m.alive ? 'running' : 'stopped'}): ${m.output.slice(-600)}`,
        );
        throw new Error(`etcd cluster not healthy within ${timeoutMs} ms\n${detail.join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The index of the raft leader, waiting (bounded) until the running members agree on one. */
  async raftLeader(timeoutMs = READY_TIMEOUT_MS): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const leaders = await Promise.all(this.members.map((m) => (m.alive ? m.isRaftLeader() : false)));
      const index = leaders.indexOf(true);
      if (index >= 0 && leaders.lastIndexOf(true) === index) return index;
      if (performance.now() > deadline) throw new Error(`no single etcd raft leader within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async killAll(): Promise<void> {
    await Promise.all(this.members.map((m) => m.kill()));
  }
}

async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Starts an etcd cluster of `size` members in a temp dir and waits until it is healthy. The end of
 * the test kills every member and removes the dir, whatever happened.
 */
export async function startEtcdCluster(t: TestContext, bin: string, size = 3): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-'));
  const members: EtcdMember[] = [];
  const cluster = new EtcdCluster(dir, members);
  t.after(async () => {
    await cluster.killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  const ports = await freePorts(size * 2);
  const token = `picluster-test-${randomBytes(6).toString('hex')}`;
  const initialCluster = () => members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  for (let i = 0; i < size; i++) {
    const name = `m${i}`;
    const member: EtcdMember = new EtcdMember(
      bin,
      name,
      join(dir, name),
      ports[2 * i] as number,
      ports[2 * i + 1] as number,
      () => [
        '--name',
        name,
        '--data-dir',
        member.dataDir,
        '--listen-client-urls',
        member.clientUrl,
        '--advertise-client-urls',
        member.clientUrl,
        '--listen-peer-urls',
        member.peerUrl,
        '--initial-advertise-peer-urls',
        member.peerUrl,
        '--initial-cluster',
        initialCluster(),
        '--initial-cluster-token',
        token,
        // A restart finds its data dir and ignores the initial-cluster flags.
        '--initial-cluster-state',
        'new',
        '--logger',
        'zap',
        '--log-level',
        'warn',
      ],
    );
    members.push(member);
  }
  for (const m of members) m.start();
  await cluster.waitHealthy();
  return cluster;
}
