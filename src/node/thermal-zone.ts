// Finds the thermal zone that measures the CPU. A machine may have several (ACPI, NVMe, Wi-Fi,
// battery); the one whose `type` names the CPU or SoC is the one the vitals report.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DebugLogger } from './debug-logger.js';
import { isMissingFileError, readKernelText } from './read-kernel-text.js';

/** Zone types of CPU/SoC sensors, best first: Pi and other ARM SoCs, then x86 Intel and AMD. */
export const CPU_THERMAL_ZONE_TYPES: readonly string[] = [
  'cpu-thermal',
  'soc_thermal',
  'x86_pkg_temp',
  'coretemp',
  'k10temp',
];

// Other spellings of a CPU/SoC sensor seen on ARM boards ("cpu_thermal", "soc-thermal", "cpu0-thermal").
const CPU_LIKE_TYPE = /\b(cpu|soc)[\d_-]*thermal\b|^(cpu|soc)\d*$/i;

/**
 * The directory of the CPU's thermal zone under `<root>/sys/class/thermal`: a zone with a known CPU
 * type, else one whose type looks like a CPU or SoC, else `thermal_zone0`; undefined when there is
 * no thermal zone at all (most VMs). Called once per reader: zones do not come and go.
 */
export async function findCpuThermalZone(root: string, logger: DebugLogger): Promise<string | undefined> {
  const classDir = join(root, 'sys/class/thermal');
  let names: string[];
  try {
    names = await readdir(classDir);
  } catch (err) {
    // Swallowed on purpose: no thermal class means no temperature to report (tempC absent).
    if (!isMissingFileError(err)) logger.debug({ err, path: classDir }, 'node: cannot list thermal zones');
    return undefined;
  }
  const zones = names
    .filter((name) => /^thermal_zone\d+$/.test(name))
    .sort((a, b) => Number(a.slice(12)) - Number(b.slice(12)))
    .map((name) => join(classDir, name));
  if (zones.length === 0) return undefined;
  const types = await Promise.all(
    zones.map(async (zone) => (await readKernelText(join(zone, 'type'), logger))?.trim()),
  );
  const rank = (type: string | undefined): number => {
    if (type === undefined) return Number.POSITIVE_INFINITY;
    const known = CPU_THERMAL_ZONE_TYPES.indexOf(type);
    if (known >= 0) return known;
    return CPU_LIKE_TYPE.test(type) ? CPU_THERMAL_ZONE_TYPES.length : Number.POSITIVE_INFINITY;
  };
  let best: string | undefined;
  let bestRank = Number.POSITIVE_INFINITY;
  zones.forEach((zone, i) => {
    const r = rank(types[i]);
    if (r < bestRank) {
      best = zone;
      bestRank = r;
    }
  });
  return best ?? zones.find((zone) => zone.endsWith('/thermal_zone0'));
}
