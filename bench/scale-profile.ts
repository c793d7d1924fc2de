// Summarises a V8 .cpuprofile (node --cpu-prof) over a time slice: the functions with the most
// self time and the most total (inclusive) time, as shares of the samples in the slice.
// Used by bench/scale.ts; also runnable: `node --import tsx bench/scale-profile.ts FILE [fromS toS]`
// (seconds from the start of the profile).

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds, monotonic clock. */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  fn: string;
  percent: number;
  ms: number;
}

export interface ProfileSummary {
  file: string;
  sliceMs: number;
  samples: number;
  /** Share of the slice spent outside (idle): what the process did not use. */
  idlePercent: number;
  self: ProfileRow[];
  total: ProfileRow[];
}

function label(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  const url = frame.url.replace(/^file:\/\//, '');
  const short = url.includes('/node_modules/')
    ? url.slice(url.lastIndexOf('/node_modules/') + 14)
    : url.includes('/dist/')
      ? url.slice(url.lastIndexOf('/dist/') + 1)
      : url.startsWith('node:')
        ? url
        : basename(url);
  return `${name} ${short}:${frame.lineNumber + 1}`;
}

/**
 * `fromUs`/`toUs`: the slice, in microseconds relative to the profile's endTime (negative, e.g.
 * the last 60 s before the end is [-60e6, 0]); undefined = the whole profile.
 */
export function summarizeProfile(file: string, fromEndUs?: [number, number], top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) byId.set(node.id, node);
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const from = fromEndUs ? profile.endTime + fromEndUs[0] : profile.startTime;
  const to = fromEndUs ? profile.endTime + fromEndUs[1] : profile.endTime;

  const selfUs = new Map<string, number>();
  const totalUs = new Map<string, number>();
  let sliceUs = 0;
  let idleUs = 0;
  let count = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < from || t > to) continue;
    // The sample's weight: the time until the next sample (V8's own convention for self time).
    const weight = profile.timeDeltas[i + 1] ?? delta;
    const id = profile.samples[i] as number;
    const node = byId.get(id);
    if (!node) continue;
    count++;
    sliceUs += weight;
    const self = label(node.callFrame);
    if (node.callFrame.functionName === '(idle)') {
      idleUs += weight;
      continue;
    }
    selfUs.set(self, (selfUs.get(self) ?? 0) + weight);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame || frame.functionName === '(root)') continue;
      const name = label(frame);
      if (seen.has(name)) continue;
      seen.add(name);
      totalUs.set(name, (totalUs.get(name) ?? 0) + weight);
    }
  }
  const rows = (map: Map<string, number>): ProfileRow[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, us]) => ({
        fn,
        percent: sliceUs > 0 ? Math.round((us / sliceUs) * 1000) / 10 : 0,
        ms: Math.round(us / 1000),
      }));
  return {
    file,
    sliceMs: Math.round(sliceUs / 1000),
    samples: count,
    idlePercent: sliceUs > 0 ? Math.round((idleUs / sliceUs) * 1000) / 10 : 0,
    self: rows(selfUs),
    total: rows(totalUs),
  };
}

export function formatProfile(summary: ProfileSummary): string[] {
  const busyMs = summary.sliceMs * (1 - summary.idlePercent / 100);
  return [
    `profile ${summary.file}: ${summary.samples} samples over ${summary.sliceMs} ms, idle ${summary.idlePercent}% (busy ${Math.round(busyMs)} ms)`,
    '  self time (% of the slice):',
    ...summary.self.map((r) => `    ${String(r.percent).padStart(5)}%  ${String(r.ms).padStart(7)} ms  ${r.fn}`),
    '  total time, callees included (% of the slice):',
    ...summary.total.map((r) => `    ${String(r.percent).padStart(5)}%  ${String(r.ms).padStart(7)} ms  ${r.fn}`),
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, fromS, toS] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/scale-profile.ts FILE.cpuprofile [fromS toS]\n');
    process.exit(2);
  }
  let slice: [number, number] | undefined;
  if (fromS !== undefined && toS !== undefined) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const length = profile.endTime - profile.startTime;
    slice = [Number(fromS) * 1e6 - length, Number(toS) * 1e6 - length];
  }
  process.stdout.write(`${formatProfile(summarizeProfile(file, slice, 25)).join('\n')}\n`);
}
