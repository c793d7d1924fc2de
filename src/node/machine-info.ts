// What a machine is, for the `info` message: read once at connect and when it changes. Uses
// systeminformation for the CPU model and OS distro by default (it forks a few processes: fine once,
// never in the vitals loop); without it, the same fields come from /proc, /sys, /etc and `os`.

import os from 'node:os';
import { join } from 'node:path';
import type { InfoPayload } from '../protocol/messages.js';
import { type DebugLogger, silentDebugLogger } from './debug-logger.js';
import { countCpuinfoProcessors, parseCpuModel, parseMeminfo, parseOsRelease } from './proc-parsers.js';
import { readKernelText } from './read-kernel-text.js';
import { readDeviceTreeModel } from './throttle-reader.js';

export interface MachineInfoOptions {
  /** Directory every /proc, /sys and /etc path is read under, so tests can feed fixture trees. Default `/`. */
  root?: string;
  /** picluster's version, reported as is. */
  version: string;
  /** Ask systeminformation for the CPU model, core count, speeds and OS distro. Default true; tests pass false. */
  useLibrary?: boolean;
  /** Gets one debug line per error swallowed to leave a field absent. Default: silent. */
  logger?: DebugLogger;
}

/** What the library path contributes; every field optional, /proc fills the gaps. */
interface LibraryFacts {
  os?: string;
  cpuModel?: string;
  cpuCores?: number;
  cpuMinMhz?: number;
  cpuMaxMhz?: number;
}

const MACHINE_ID_PATHS = ['etc/machine-id', 'var/lib/dbus/machine-id'];
const CPUFREQ_DIR = 'sys/devices/system/cpu/cpu0/cpufreq';

/**
 * Reads the machine's static description.
 * @throws Error naming the file when /proc/meminfo cannot be read (every Linux machine has it).
 */
export async function readMachineInfo(options: MachineInfoOptions): Promise<InfoPayload> {
  const root = options.root ?? '/';
  const logger = options.logger ?? silentDebugLogger;
  const read = async (relative: string) => (await readKernelText(join(root, relative), logger))?.trim() || undefined;

  const [library, meminfoText, cpuinfo, osRelease, hostname, kernel, minKHz, maxKHz, board, bootId, machineId] =
    await Promise.all([
      options.useLibrary === false ? Promise.resolve<LibraryFacts>({}) : readLibraryFacts(logger),
      read('proc/meminfo'),
      read('proc/cpuinfo'),
      read('etc/os-release').then(async (text) => text ?? (await read('usr/lib/os-release'))),
      read('proc/sys/kernel/hostname'),
      read('proc/sys/kernel/osrelease'),
      read(`${CPUFREQ_DIR}/cpuinfo_min_freq`),
      read(`${CPUFREQ_DIR}/cpuinfo_max_freq`),
      readDeviceTreeModel(root, logger),
      readBootId(root, logger),
      readMachineId(root, logger),
    ]);
  if (meminfoText === undefined) {
    throw new Error(`cannot read ${join(root, 'proc/meminfo')}: info needs a Linux procfs`);
  }
  const meminfo = parseMeminfo(meminfoText);
  const ramTotalKb = meminfo.get('MemTotal');
  const swapTotalKb = meminfo.get('SwapTotal');
  if (ramTotalKb === undefined || swapTotalKb === undefined) {
    throw new Error(`${join(root, 'proc/meminfo')} has no MemTotal or SwapTotal line`);
  }
  // cpufreq's own limits are exact; the library (lscpu, rounded to 10 MHz) only fills a gap.
  const cpuMinMhz = kHzToMhz(minKHz) ?? library.cpuMinMhz;
  const cpuMaxMhz = kHzToMhz(maxKHz) ?? library.cpuMaxMhz;
  return {
    hostname: hostname ?? os.hostname(),
    os: library.os ?? (osRelease === undefined ? undefined : parseOsRelease(osRelease)) ?? os.type(),
    kernel: kernel ?? os.release(),
    arch: os.arch(),
    cpuModel: library.cpuModel ?? (cpuinfo === undefined ? undefined : parseCpuModel(cpuinfo)) ?? cpuModelFromOs(),
    cpuCores: library.cpuCores || (cpuinfo === undefined ? 0 : countCpuinfoProcessors(cpuinfo)) || os.cpus().length,
    ...(cpuMinMhz === undefined ? {} : { cpuMinMhz }),
    ...(cpuMaxMhz === undefined ? {} : { cpuMaxMhz }),
    ramTotalBytes: ramTotalKb * 1024,
    swapTotalBytes: swapTotalKb * 1024,
    ...(board === undefined ? {} : { board }),
    ...(bootId === undefined ? {} : { bootId }),
    ...(machineId === undefined ? {} : { machineId }),
    version: options.version,
  };
}

/**
 * The systemd machine id (/etc/machine-id, else D-Bus's copy), trimmed; undefined when neither
 * holds one (an image not booted yet has an empty file or "uninitialized").
 */
export async function readMachineId(root = '/', logger: DebugLogger = silentDebugLogger): Promise<string | undefined> {
  for (const relative of MACHINE_ID_PATHS) {
    const id = (await readKernelText(join(root, relative), logger))?.trim();
    if (id && id !== 'uninitialized' && id.length <= 128) return id;
  }
  return undefined;
}

/** The kernel's random id of this boot (a UUID), trimmed; undefined when missing. */
export async function readBootId(root = '/', logger: DebugLogger = silentDebugLogger): Promise<string | undefined> {
  const id = (await readKernelText(join(root, 'proc/sys/kernel/random/boot_id'), logger))?.trim();
  return id && id.length <= 64 ? id : undefined;
}

async function readLibraryFacts(logger: DebugLogger): Promise<LibraryFacts> {
  try {
    // Loaded on demand: importing picluster for vitals alone must not load systeminformation.
    const si = (await import('systeminformation')).default;
    const [cpu, osInfo] = await Promise.all([si.cpu(), si.osInfo()]);
    const cpuModel = [cpu.manufacturer, cpu.brand].filter((s) => s && s !== 'unknown').join(' ');
    const facts: LibraryFacts = {};
    if (osInfo.distro && osInfo.distro !== 'unknown') {
      facts.os = osInfo.release && osInfo.release !== 'unknown' ? `${osInfo.distro} ${osInfo.release}` : osInfo.distro;
    }
    if (cpuModel) facts.cpuModel = cpuModel;
    if (cpu.cores > 0) facts.cpuCores = cpu.cores;
    if (cpu.speedMin > 0) facts.cpuMinMhz = Math.round(cpu.speedMin * 1000);
    if (cpu.speedMax > 0) facts.cpuMaxMhz = Math.round(cpu.speedMax * 1000);
    return facts;
  } catch (err) {
    // Swallowed on purpose: every library fact has a /proc fallback.
    logger.debug({ err }, 'node: systeminformation failed; machine info read from /proc only');
    return {};
  }
}

function kHzToMhz(text: string | undefined): number | undefined {
  const kHz = Number(text ?? Number.NaN);
  return Number.isFinite(kHz) && kHz > 0 ? kHz / 1000 : undefined;
}

function cpuModelFromOs(): string {
  const model = os.cpus()[0]?.model;
  return model && model !== 'unknown' ? model : 'unknown';
}
