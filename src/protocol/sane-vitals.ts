// The agent's side of the realistic ranges the primary enforces (messages.ts, LIMITS): a reading is
// made to fit them before it goes into the outbox, so one odd value (a thermal zone reporting
// -273 °C, a mount point listed twice) costs that value, not the sample, and never a sample the
// primary refuses again at every reconnect. Pure.

import { LIMITS, type VitalsPayload } from './messages.js';

type Reading = Omit<VitalsPayload, 'seq'>;

const within = (value: number, min: number, max: number) => Number.isFinite(value) && value >= min && value <= max;
const clamp = (value: number, min: number, max: number) =>
  Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : min;

/** The reading within the primary's bounds, and what had to change (empty when nothing did). */
export function saneReading<R extends Reading>(reading: R): { reading: R; fixed: string[] } {
  const fixed: string[] = [];
  const out: R = { ...reading };
  if (out.tempC !== undefined && !within(out.tempC, LIMITS.tempC.min, LIMITS.tempC.max)) {
    delete out.tempC;
    fixed.push('tempC');
  }
  if (out.cpuMhz !== undefined && !within(out.cpuMhz, 0, LIMITS.mhz)) {
    delete out.cpuMhz;
    fixed.push('cpuMhz');
  }
  for (const key of ['load1', 'load5', 'load15'] as const) {
    if (!within(out[key], 0, LIMITS.load)) {
      out[key] = clamp(out[key], 0, LIMITS.load);
      fixed.push(key);
    }
  }
  if (out.agentRssBytes !== undefined && !within(out.agentRssBytes, 0, LIMITS.bytes)) {
    delete out.agentRssBytes;
    fixed.push('agentRssBytes');
  }
  if (out.agentCpuPercent !== undefined && !within(out.agentCpuPercent, 0, 100 * LIMITS.cpuCores)) {
    delete out.agentCpuPercent;
    fixed.push('agentCpuPercent');
  }
  if (!within(out.uptimeS, 0, LIMITS.uptimeS)) {
    out.uptimeS = clamp(out.uptimeS, 0, LIMITS.uptimeS);
    fixed.push('uptimeS');
  }
  for (const key of ['ramAvailableBytes', 'swapFreeBytes'] as const) {
    if (!within(out[key], 0, LIMITS.bytes)) {
      out[key] = Math.round(clamp(out[key], 0, LIMITS.bytes));
      fixed.push(key);
    }
  }
  const mounts = new Set<string>();
  const disks = out.disks.filter((d) => {
    const keep = !mounts.has(d.mount) && d.totalBytes <= LIMITS.bytes && d.freeBytes <= d.totalBytes;
    mounts.add(d.mount);
    return keep;
  });
  if (disks.length !== out.disks.length) {
    out.disks = disks;
    fixed.push('disks');
  }
  const ifaces = new Set<string>();
  const nets = out.nets.filter((n) => {
    const keep = !ifaces.has(n.iface);
    ifaces.add(n.iface);
    return keep;
  });
  if (nets.length !== out.nets.length) {
    out.nets = nets;
    fixed.push('nets');
  }
  return { reading: out, fixed };
}
