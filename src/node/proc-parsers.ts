// Pure parsers of the /proc text formats the vitals and machine-info readers use. No I/O: each
// takes the file's text and returns numbers, or undefined when the text is not in that format.

/** Jiffies of the aggregate `cpu` line of /proc/stat, reduced to what a busy ratio needs. */
export interface CpuTicks {
  totalTicks: number;
  idleTicks: number;
}

export interface NetCounters {
  iface: string;
  rxBytes: number;
  txBytes: number;
}

/** At most this many interfaces are reported (the protocol's limit). */
export const MAX_NET_INTERFACES = 64;

/**
 * Parses the aggregate `cpu` line of /proc/stat: `user nice system idle iowait irq softirq steal
 * guest guest_nice`. guest and guest_nice are left out of the total because the kernel already
 * counts them in user and nice; idle includes iowait (the CPU was free to run something else).
 */
export function parseCpuTicks(statText: string): CpuTicks | undefined {
  const line = statText.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return undefined;
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (ticks.length < 4 || ticks.some((n) => !Number.isFinite(n) || n < 0)) return undefined;
  const at = (i: number): number => ticks[i] ?? 0;
  return { totalTicks: ticks.reduce((a, b) => a + b, 0), idleTicks: at(3) + at(4) };
}

/**
 * Busy share of the CPU between two /proc/stat readings, in percent, clamped to [0, 100] (iowait
 * may go backwards, see proc(5)) and rounded to 0.01. Undefined when no tick elapsed in between.
 */
export function computeCpuPercent(before: CpuTicks, after: CpuTicks): number | undefined {
  const totalTicks = after.totalTicks - before.totalTicks;
  if (totalTicks <= 0) return undefined;
  const busyTicks = totalTicks - (after.idleTicks - before.idleTicks);
  const percent = Math.min(100, Math.max(0, (100 * busyTicks) / totalTicks));
  return Math.round(percent * 100) / 100;
}

/** /proc/meminfo as a map from key (`MemAvailable`) to its number (kB for the sizes). */
export function parseMeminfo(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([^:\s]+):\s+(\d+)/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], Number(match[2]));
  }
  return values;
}

/** The three load averages of /proc/loadavg. */
export function parseLoadavg(text: string): [number, number, number] | undefined {
  const [load1, load5, load15] = text.trim().split(/\s+/).map(Number);
  if (load1 === undefined || load5 === undefined || load15 === undefined) return undefined;
  if (![load1, load5, load15].every((n) => Number.isFinite(n) && n >= 0)) return undefined;
  return [load1, load5, load15];
}

/** Seconds since boot, the first number of /proc/uptime. */
export function parseUptimeS(text: string): number | undefined {
  const uptimeS = Number(text.trim().split(/\s+/)[0] || Number.NaN);
  return Number.isFinite(uptimeS) && uptimeS >= 0 ? uptimeS : undefined;
}

/** Byte counters of every interface in /proc/net/dev except loopback, at most 64. */
export function parseNetDev(text: string): NetCounters[] {
  const nets: NetCounters[] = [];
  // After two header lines, one line per interface; a big counter may touch the colon ("eth0:123").
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    const rxBytes = fields[0];
    const txBytes = fields[8];
    if (iface === '' || iface === 'lo' || rxBytes === undefined || txBytes === undefined) continue;
    if (!Number.isSafeInteger(rxBytes) || !Number.isSafeInteger(txBytes)) continue;
    nets.push({ iface, rxBytes, txBytes });
    if (nets.length === MAX_NET_INTERFACES) break;
  }
  return nets;
}

/** Mount points of /proc/mounts, with the kernel's octal escapes (`\040` for a space) decoded. */
export function parseMountPoints(text: string): string[] {
  const points: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[1];
    if (field?.startsWith('/')) {
      points.push(field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))));
    }
  }
  return points;
}

/** The longest mount point that contains `path` (whole path components only), else `/`. */
export function findMountPoint(mountPoints: readonly string[], path: string): string {
  let best = '/';
  for (const point of mountPoints) {
    const contains = point === '/' || path === point || path.startsWith(`${point}/`);
    if (contains && point.length > best.length) best = point;
  }
  return best;
}

/**
 * A readable CPU model from /proc/cpuinfo: `model name` (x86, 32-bit ARM kernels), else the ARM
 * implementer and part numbers (64-bit ARM kernels, e.g. a Pi 4: 0x41/0xd08 → "ARM Cortex-A72").
 */
export function parseCpuModel(cpuinfoText: string): string | undefined {
  const field = (name: string): string | undefined => {
    // Case matters: old 32-bit ARM kernels have a "Processor" model line besides "processor: 0".
    const match = new RegExp(`^${name}\\s*:\\s*(.+)$`, 'm').exec(cpuinfoText);
    return match?.[1]?.trim() || undefined;
  };
  const modelName = field('model name') ?? field('Processor');
  if (modelName !== undefined) return modelName;
  const part = field('CPU part')?.toLowerCase();
  if (field('CPU implementer')?.toLowerCase() === '0x41' && part !== undefined) {
    const core = ARM_CORES.get(part);
    return core === undefined ? `ARM (part ${part})` : `ARM ${core}`;
  }
  return field('Hardware');
}

/** Logical CPUs listed in /proc/cpuinfo. */
export function countCpuinfoProcessors(cpuinfoText: string): number {
  return cpuinfoText.match(/^processor\s*:/gm)?.length ?? 0;
}

// ARM Ltd. (implementer 0x41) part numbers of the cores found on Raspberry Pis and their peers.
const ARM_CORES = new Map([
  ['0xb76', 'ARM1176'],
  ['0xc07', 'Cortex-A7'],
  ['0xc08', 'Cortex-A8'],
  ['0xc09', 'Cortex-A9'],
  ['0xc0f', 'Cortex-A15'],
  ['0xd03', 'Cortex-A53'],
  ['0xd04', 'Cortex-A35'],
  ['0xd05', 'Cortex-A55'],
  ['0xd07', 'Cortex-A57'],
  ['0xd08', 'Cortex-A72'],
  ['0xd09', 'Cortex-A73'],
  ['0xd0b', 'Cortex-A76'],
]);

/**
 * The distro and its release from os-release text, the way systeminformation's `osInfo()` forms
 * them, so both paths of readMachineInfo agree: "Debian GNU/Linux 12", "Ubuntu 22.04.4 LTS".
 */
export function parseOsRelease(text: string): string | undefined {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], match[2].replace(/^["']|["']$/g, ''));
  }
  const distro = values.get('NAME') ?? values.get('DISTRIB_ID');
  if (distro === undefined) return undefined;
  let release = values.get('VERSION') ?? '';
  const prettyName = values.get('PRETTY_NAME') ?? '';
  if (prettyName.startsWith(`${distro} `)) release = prettyName.slice(distro.length + 1);
  release = release.split('(')[0]?.trim() || values.get('VERSION_ID') || '';
  return release === '' ? distro : `${distro} ${release}`;
}
