// A small lab of network namespaces for the fault suite: one "primary host" namespace joined to
// each "secondary host" namespace by its own veth pair (link i: 10.77.<i+1>.1 on the primary's
// side, 10.77.<i+1>.2 on the host's), daemons run inside them with `ip netns exec`, and the faults
// this kernel supports (FAULT-SCENARIOS.md, "Fault tools"): blackhole and tbf qdiscs, link down,
// nftables DROP and REJECT in tables of their own. The veths are created inside the namespaces,
// never in the host's; the only addresses used are those of the lab's own namespaces. Names carry
// the creating pid and a random suffix (parallel runs never collide), and everything (processes,
// rules, namespaces) is removed when the test ends, whatever happened. Labs of a runner that died
// are swept at the next start. Without root or `ip netns` the test is skipped (failed under CI).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { type Child, spawnChild } from './child.js';
import { CLI, trustArgs, waitUntil } from './cluster.js';
import type { FaultLog } from './jepsen-log.js';
import { type ApiClient, healthy, unixApi } from './observe.js';
import { requirePrograms, requireRoot, skipOrFail } from './require-tool.js';

const PREFIX = 'pcf-';
/** The cluster port and web port of the primary, inside its own namespace. */
export const LAB_PORT = 7000;
export const LAB_WEB_PORT = 8123;

/** Runs a command; rejects with its stderr on a non-zero exit. */
export function sh(cmd: string, args: string[], timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

export interface LabHost {
  index: number;
  /** The host's namespace. */
  ns: string;
  /** Its end of the link (inside `ns`). */
  veth: string;
  /** The primary's end of the same link (inside the primary's namespace). */
  peerVeth: string;
  address: string;
  /** The primary's address on this link: what the host's secondary dials. */
  primaryAddress: string;
}

export interface LabPrimary {
  child: Child;
  api: ApiClient;
  dataDir: string;
  pid: number;
}

export interface LabSecondaryOptions {
  dataDir: string;
  name: string;
  tokenFile: string;
  heartbeatMs: number;
  vitalsMs: number;
  /** Reconnect backoff: [initial ceiling, cap] in ms. */
  reconnect: [number, number];
  /** What the secondary dials (default: the primary's address on this host's link). */
  primary?: string;
  args?: string[];
}

export type Direction = 'both' | 'to-primary' | 'from-primary';

/**
 * When a fault command ran (epoch ms): the fault took effect at some moment in [before, after].
 * A bound on how soon something may happen counts from `before`, a deadline from `after`.
 */
export interface FaultSpan {
  before: number;
  after: number;
}

export class NetLab {
  readonly id: string;
  readonly primaryNs: string;
  readonly hosts: LabHost[];
  readonly log: FaultLog;
  readonly #ip: string;
  readonly #tc: string;
  readonly #dir: string;
  #relay: Child | undefined;
  #api: ApiClient | undefined;
  #cleaned = false;

  private constructor(log: FaultLog, hosts: number, ip: string, tc: string) {
    this.log = log;
    this.#ip = ip;
    this.#tc = tc;
    this.id = `${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
    this.primaryNs = `${PREFIX}${this.id}-p`;
    this.hosts = Array.from({ length: hosts }, (_, index) => ({
      index,
      ns: `${PREFIX}${this.id}-s${index}`,
      veth: 'up0',
      peerVeth: `h${index}`,
      address: `10.77.${index + 1}.2`,
      primaryAddress: `10.77.${index + 1}.1`,
    }));
    this.#dir = mkdtempSync(join(tmpdir(), 'picluster-netns-'));
  }

  /**
   * Builds a lab with `hosts` secondary hosts, or skips the test (printing why) when this machine
   * cannot: not root, no iproute2, `ip netns` refused. Under CI=true those fail instead.
   */
  static async create(t: TestContext, log: FaultLog, options: { hosts: number }): Promise<NetLab | undefined> {
    if (!requireRoot(t, 'network namespace faults')) return undefined;
    const tools = requirePrograms(t, ['ip', 'tc'], 'apt-get install iproute2');
    if (!tools) return undefined;
    await sweepStaleLabs(tools.ip as string);
    const lab = new NetLab(log, options.hosts, tools.ip as string, tools.tc as string);
    t.after(() => lab.cleanup());
    try {
      await lab.#build();
    } catch (err) {
      await lab.cleanup();
      return skipOrFail(t, `cannot build network namespaces (${(err as Error).message})`);
    }
    return lab;
  }

  async #build(): Promise<void> {
    const ip = this.#ip;
    await sh(ip, ['netns', 'add', this.primaryNs]);
    await sh(ip, ['-n', this.primaryNs, 'link', 'set', 'lo', 'up']);
    for (const h of this.hosts) {
      await sh(ip, ['netns', 'add', h.ns]);
      // Created inside the namespaces: no interface ever appears in the host's namespace.
      await sh(ip, [
        'link',
        'add',
        h.veth,
        'netns',
        h.ns,
        'type',
        'veth',
        'peer',
        'name',
        h.peerVeth,
        'netns',
        this.primaryNs,
      ]);
      await sh(ip, ['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', h.veth]);
      await sh(ip, ['-n', this.primaryNs, 'addr', 'add', `${h.primaryAddress}/24`, 'dev', h.peerVeth]);
      await sh(ip, ['-n', h.ns, 'link', 'set', 'lo', 'up']);
      await sh(ip, ['-n', h.ns, 'link', 'set', h.veth, 'up']);
      await sh(ip, ['-n', this.primaryNs, 'link', 'set', h.peerVeth, 'up']);
    }
    this.log.info('lab built', { primaryNs: this.primaryNs, hosts: this.hosts.map((h) => `${h.ns}=${h.address}`) });
  }

  /** Kills every process in the lab's namespaces, then deletes them (and so their veths and rules). */
  async cleanup(): Promise<void> {
    if (this.#cleaned) return;
    this.#cleaned = true;
    const all = [this.primaryNs, ...this.hosts.map((h) => h.ns)];
    for (const ns of all) await killNamespacePids(this.#ip, ns);
    this.#relay?.kill('SIGKILL');
    for (const ns of all) await sh(this.#ip, ['netns', 'del', ns]).catch(() => undefined);
    rmSync(this.#dir, { recursive: true, force: true });
    this.log.info('lab removed');
  }

  // --- processes ---------------------------------------------------------------------------------

  /** Forks a tsx script inside namespace `ns`; killed when the test ends. */
  spawn(t: TestContext, ns: string, file: string, args: string[], env: Record<string, string> = {}): Child {
    return spawnChild(t, file, args, env, { netns: ns, ipPath: this.#ip });
  }

  /** The primary's API, through a unix-socket relay into its namespace (started once). */
  async api(t: TestContext): Promise<ApiClient> {
    if (this.#api) return this.#api;
    const socketPath = join(this.#dir, 'api.sock');
    const relay = `const net=require('net');const [p,port]=process.argv.slice(1);
net.createServer((c)=>{const u=net.connect(+port,'127.0.0.1');c.pipe(u).pipe(c);
const k=()=>{c.destroy();u.destroy();};for(const s of [c,u]){s.on('error',k);s.on('close',k);}}).listen(p);`;
    this.#relay = spawnChild(
      t,
      '-e',
      [relay, socketPath, String(LAB_WEB_PORT)],
      {},
      { netns: this.primaryNs, ipPath: this.#ip },
    );
    await waitUntil(() => existsSync(socketPath), 10_000, 'the API relay socket');
    this.#api = unixApi(socketPath);
    return this.#api;
  }

  /** Starts (or restarts, on the same data dir) `picluster primary` in the primary's namespace. */
  async startPrimary(
    t: TestContext,
    options: { dataDir: string; heartbeatMs: number; args?: string[] },
  ): Promise<LabPrimary> {
    const api = await this.api(t);
    const child = this.spawn(t, this.primaryNs, CLI, [
      'primary',
      '--bind',
      '0.0.0.0',
      '--port',
      String(LAB_PORT),
      '--web-bind',
      '127.0.0.1',
      '--web-port',
      String(LAB_WEB_PORT),
      '--data-dir',
      options.dataDir,
      '--heartbeat-interval-ms',
      String(options.heartbeatMs),
      ...(options.args ?? []),
    ]);
    await waitUntil(
      async () => {
        if (!child.alive) throw new Error(`primary exited: ${child.stderr.join('').slice(-2000)}`);
        return healthy(api);
      },
      20_000,
      'the primary in its namespace to be healthy',
    );
    this.log.info('primary up', { pid: child.pid });
    return { child, api, dataDir: options.dataDir, pid: child.pid };
  }

  /** Starts `picluster secondary` in host `host`'s namespace, dialing the primary over its link. */
  startSecondary(t: TestContext, host: LabHost, o: LabSecondaryOptions): Child {
    const child = this.spawn(t, host.ns, CLI, [
      'secondary',
      '--primary',
      o.primary ?? `${host.primaryAddress}:${LAB_PORT}`,
      '--data-dir',
      o.dataDir,
      '--name',
      o.name,
      '--token-file',
      o.tokenFile,
      '--heartbeat-interval-ms',
      String(o.heartbeatMs),
      '--vitals-period-ms',
      String(o.vitalsMs),
      '--reconnect-initial-delay-ms',
      String(o.reconnect[0]),
      '--reconnect-max-delay-ms',
      String(o.reconnect[1]),
      // The primary's data dir is where its token file is.
      ...trustArgs(dirname(o.tokenFile), o.args),
      ...(o.args ?? []),
    ]);
    this.log.info('secondary started', { host: host.index, name: o.name, pid: child.pid });
    return child;
  }

  /**
   * Gives host `host`'s namespace its own /etc/hosts (`ip netns exec` mounts /etc/netns/NS/hosts
   * over it for the processes it starts), removed when the test ends. Written in place: the
   * processes already running see a rewrite.
   */
  setHosts(t: TestContext, host: LabHost, text: string): void {
    const dir = join('/etc/netns', host.ns);
    const file = join(dir, 'hosts');
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      t.after(() => rmSync(dir, { recursive: true, force: true }));
    }
    writeFileSync(file, text);
    this.log.info('hosts file', { host: host.index, text: text.trim() });
  }

  /** Moves the primary's address on host `host`'s link from `from` to `to` (both /24). */
  async movePrimaryAddress(host: LabHost, from: string, to: string): Promise<FaultSpan> {
    return this.#fault('move the primary address', { host: host.index, from, to }, async () => {
      // Deleted first: deleting a subnet's first address also deletes the others in it.
      await sh(this.#ip, ['-n', this.primaryNs, 'addr', 'del', `${from}/24`, 'dev', host.peerVeth]);
      await sh(this.#ip, ['-n', this.primaryNs, 'addr', 'add', `${to}/24`, 'dev', host.peerVeth]);
    });
  }

  // --- faults (each one logged as a nemesis operation) ---------------------------------------------
  //
  // Each resolves with the span in which the fault took effect: launching `tc`, `ip` or `nft` takes
  // 10-150 ms on a loaded machine, and the kernel applies the change somewhere in between. A
  // deadline is measured from `after` (the latest the fault can have started), an earliest time
  // from `before`; both ends of a link are changed concurrently, so a cut is as short as asked.

  /** Runs one fault operation: a nemesis entry, then how long applying it took. */
  async #fault(what: string, detail: Record<string, unknown>, apply: () => Promise<unknown>): Promise<FaultSpan> {
    this.log.nemesis(what, detail);
    const before = Date.now();
    await apply();
    const after = Date.now();
    this.log.record('ok', what, { ms: after - before });
    return { before, after };
  }

  /** Silently drops everything leaving in `direction` (a `blackhole` root qdisc). */
  blackhole(host: LabHost, direction: Direction = 'both'): Promise<FaultSpan> {
    return this.#fault('blackhole', { host: host.index, direction }, () =>
      Promise.all(
        this.#ends(host, direction).map(([ns, dev]) =>
          sh(this.#tc, ['-n', ns, 'qdisc', 'add', 'dev', dev, 'root', 'blackhole']),
        ),
      ),
    );
  }

  /** Removes any root qdisc (blackhole, tbf) on both ends of the host's link. */
  clearQdiscs(host: LabHost): Promise<FaultSpan> {
    return this.#fault('clear qdiscs', { host: host.index }, () =>
      Promise.all(
        this.#ends(host, 'both').map(([ns, dev]) =>
          sh(this.#tc, ['-n', ns, 'qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined),
        ),
      ),
    );
  }

  /** A starved link: a token bucket of `rate` (e.g. "8kbit") on the ends in `direction`. */
  rateLimit(
    host: LabHost,
    rate: string,
    direction: Direction = 'both',
    { burst = '1600', latency = '50ms' } = {},
  ): Promise<FaultSpan> {
    return this.#fault('tbf', { host: host.index, rate, burst, latency, direction }, () =>
      Promise.all(
        this.#ends(host, direction).map(([ns, dev]) =>
          sh(this.#tc, [
            '-n',
            ns,
            'qdisc',
            'add',
            'dev',
            dev,
            'root',
            'tbf',
            'rate',
            rate,
            'burst',
            burst,
            'latency',
            latency,
          ]),
        ),
      ),
    );
  }

  /** Takes the host's end of its link down (its side sees ENETUNREACH at once). */
  linkDown(host: LabHost): Promise<FaultSpan> {
    return this.#fault('link down', { host: host.index }, () =>
      sh(this.#ip, ['-n', host.ns, 'link', 'set', host.veth, 'down']),
    );
  }

  linkUp(host: LabHost): Promise<FaultSpan> {
    return this.#fault('link up', { host: host.index }, () =>
      sh(this.#ip, ['-n', host.ns, 'link', 'set', host.veth, 'up']),
    );
  }

  /** nftables in the primary's namespace, in a table of the lab's own for this host. */
  async #nft(host: LabHost, kind: string, rules: string[]): Promise<string> {
    const table = `pcf_${kind}_${host.index}`;
    const script = [`add table inet ${table}`, ...rules.map((r) => r.replaceAll('TABLE', table))].join('\n');
    await nftScript(this.#ip, this.primaryNs, script);
    return table;
  }

  /** A silent partition (nftables DROP both ways at the primary's end of the host's link). */
  partition(host: LabHost): Promise<FaultSpan> {
    return this.#fault('partition (nft drop)', { host: host.index }, () =>
      this.#nft(host, 'drop', [
        'add chain inet TABLE input { type filter hook input priority -10 ; }',
        'add chain inet TABLE output { type filter hook output priority -10 ; }',
        `add rule inet TABLE input iifname "${host.peerVeth}" drop`,
        `add rule inet TABLE output oifname "${host.peerVeth}" drop`,
      ]),
    );
  }

  heal(host: LabHost): Promise<FaultSpan> {
    return this.#fault('heal partition', { host: host.index }, () =>
      nftScript(this.#ip, this.primaryNs, `delete table inet pcf_drop_${host.index}`),
    );
  }

  /** Active refusal: every packet from the host to the cluster port gets a TCP reset; SYNs counted. */
  rejectWithReset(host: LabHost): Promise<FaultSpan> {
    return this.#fault('reject with tcp reset (nft)', { host: host.index }, () =>
      this.#nft(host, 'reject', [
        'add chain inet TABLE input { type filter hook input priority -10 ; }',
        'add counter inet TABLE syns',
        `add rule inet TABLE input iifname "${host.peerVeth}" tcp dport ${LAB_PORT} tcp flags & (syn | ack) == syn counter name syns`,
        `add rule inet TABLE input iifname "${host.peerVeth}" tcp dport ${LAB_PORT} reject with tcp reset`,
      ]),
    );
  }

  /** Connection attempts (SYNs) the reject rule has seen. */
  async rejectedSyns(host: LabHost): Promise<number> {
    const out = await sh(this.#ip, [
      'netns',
      'exec',
      this.primaryNs,
      'nft',
      'list',
      'counter',
      'inet',
      `pcf_reject_${host.index}`,
      'syns',
    ]);
    return Number(/packets (\d+)/.exec(out)?.[1] ?? Number.NaN);
  }

  unreject(host: LabHost): Promise<FaultSpan> {
    return this.#fault('remove reject', { host: host.index }, () =>
      nftScript(this.#ip, this.primaryNs, `delete table inet pcf_reject_${host.index}`),
    );
  }

  /** [namespace, device] of the link ends that send in `direction`. */
  #ends(host: LabHost, direction: Direction): Array<[string, string]> {
    const ends: Array<[string, string]> = [];
    if (direction !== 'from-primary') ends.push([host.ns, host.veth]);
    if (direction !== 'to-primary') ends.push([this.primaryNs, host.peerVeth]);
    return ends;
  }
}

/** True when nft is installed (or skips/fails the test like requirePrograms). */
export function requireNft(t: TestContext): boolean {
  return requirePrograms(t, ['nft'], 'apt-get install nftables') !== undefined;
}

function nftScript(ip: string, ns: string, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(ip, ['netns', 'exec', ns, 'nft', '-f', '-'], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`nft in ${ns}: ${stderr.trim() || err.message}\n${script}`));
      else resolve(stdout);
    });
    child.stdin?.end(`${script}\n`);
  });
}

/** Kills (SIGKILL) the processes living in namespace `ns`: only ever ones a lab started. */
async function killNamespacePids(ip: string, ns: string): Promise<void> {
  const out = await sh(ip, ['netns', 'pids', ns]).catch(() => '');
  for (const pid of out
    .split('\n')
    .map(Number)
    .filter((n) => n > 0)) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Removes the labs of runners that are gone (a runner killed before its cleanup ran). */
async function sweepStaleLabs(ip: string): Promise<void> {
  const list = await sh(ip, ['netns', 'list']).catch(() => '');
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const match = /^pcf-(\d+)-[a-z0-9]+-(p|s\d+)$/.exec(name);
    if (!match) continue;
    const owner = Number(match[1]);
    if (owner === process.pid || isAlive(owner)) continue;
    await killNamespacePids(ip, name);
    await sh(ip, ['netns', 'del', name]).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
