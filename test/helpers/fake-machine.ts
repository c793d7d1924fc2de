// The fake machine behind in-process secondaries in load and fault tests (test/fixtures/load-nodes.ts,
// test/helpers/agent-fleet.ts): fixed machine info, a chosen machine id and cheap vitals, so many
// agents share one host without reading /proc or /etc/machine-id.
import type { SecondaryOptions } from '../../src/secondary/secondary.js';

/**
 * The `machineInfo`, `machineId` and `vitals` options of a `Secondary` for a fake machine: a
 * one-core box named `hostname` with 1 KiB of RAM, reporting a random CPU load in every sample.
 */
export function fakeMachine(
  hostname: string,
  machineId: string,
): Required<Pick<SecondaryOptions, 'machineInfo' | 'machineId' | 'vitals'>> {
  const info = {
    hostname,
    os: 'test',
    kernel: '6',
    arch: 'x64',
    cpuModel: 'fake',
    cpuCores: 1,
    ramTotalBytes: 1024,
    swapTotalBytes: 0,
    version: 'test',
  };
  return {
    machineInfo: async () => info,
    machineId: async () => machineId,
    vitals: {
      read: async () => ({
        ts: Date.now(),
        cpuPercent: Math.random() * 100,
        ramAvailableBytes: 512,
        swapFreeBytes: 0,
        load1: 0,
        load5: 0,
        load15: 0,
        uptimeS: 1,
        disks: [],
        nets: [],
      }),
    },
  };
}
