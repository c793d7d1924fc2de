// /metrics against the real tools: `promtool check metrics` accepts the exposition without a
// single lint warning, and a real Prometheus server scraping the primary's web server every second
// stores the node series with their node_id and node_name labels.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { startWebServer } from '../../src/web/server.js';
import { freePort, tempDir, waitUntil } from '../helpers/cluster.js';
import { fakeNodeRecord, startFakeCluster } from '../helpers/prometheus.js';
import { requirePrograms } from '../helpers/require-tool.js';

const INSTALL = 'apt-get install prometheus';

/** Runs `program args` with `input` on stdin; resolves with its exit code and output. */
function run(program: string, args: string[], input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

/** A cluster with two fake secondaries, one odd-named node record, and the web server. */
async function servedCluster(t: TestContext) {
  const cluster = await startFakeCluster(t, tempDir(t));
  const odd = fakeNodeRecord(7);
  odd.name = 'odd "name" \\ with\nnewline';
  odd.state = 'lost';
  cluster.primary.registry.set(odd);
  const web = await startWebServer(cluster.primary, { port: 0, bind: '127.0.0.1' });
  t.after(() => web.close());
  return { ...cluster, url: `http://127.0.0.1:${web.port}/metrics` };
}

interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

/** Starts Prometheus scraping `target` every second; kills it and removes its files when the test ends. */
async function startPrometheus(t: TestContext, prometheus: string, target: string): Promise<{ api: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1m',
      'scrape_configs:',
      '  - job_name: picluster',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const logs: string[] = [];
  const child: ChildProcess = spawn(
    prometheus,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      '--storage.tsdb.retention.time=1h',
      '--query.lookback-delta=10s',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.setEncoding('utf8').on('data', (d: string) => logs.push(d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => logs.push(d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const api = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => {
      if (child.exitCode !== null)
        throw new Error(`prometheus exited ${child.exitCode}: ${logs.join('').slice(-2000)}`);
      return (await fetch(`${api}/-/ready`)).ok;
    },
    20_000,
    'prometheus ready',
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; prometheus log: ${logs.join('').slice(-2000)}`);
  });
  return { api };
}

async function query(api: string, promql: string): Promise<PromSeries[]> {
  const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await response.json()) as { status: string; data?: { result: PromSeries[] }; error?: string };
  if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
  return body.data?.result ?? [];
}

describe('/metrics with the Prometheus tools', () => {
  it('passes `promtool check metrics` with no warnings', async (t) => {
    const tools = requirePrograms(t, ['promtool'], INSTALL);
    if (!tools) return;
    const { url } = await servedCluster(t);
    const response = await fetch(url);
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /^picluster_node_temperature_celsius\{/m);
    const { code, output } = await run(tools.promtool as string, ['check', 'metrics'], text);
    assert.equal(output, '', 'promtool printed problems');
    assert.equal(code, 0);
  });

  it('is scraped by a real Prometheus server: node series with node_id and node_name', async (t) => {
    const tools = requirePrograms(t, ['prometheus'], INSTALL);
    if (!tools) return;
    const { pi, box, url } = await servedCluster(t);
    const { api } = await startPrometheus(t, tools.prometheus as string, new URL(url).host);

    const up = await waitUntil(
      async () => {
        const result = await query(api, 'picluster_node_up{job="picluster"}');
        return result.length >= 3 ? result : undefined;
      },
      30_000,
      'picluster_node_up of 3 nodes in prometheus',
    ).catch(async (err: unknown) => {
      const targets = await fetch(`${api}/api/v1/targets`).then((r) => r.text());
      throw new Error(`${String(err)}; targets: ${targets.slice(0, 2000)}`);
    });
    assert.ok(up, 'waitUntil resolves only with series');
    const byId = new Map(up.map((s) => [s.metric.node_id, s]));
    assert.equal(byId.get(pi.nodeId)?.metric.node_name, 'pi-hot');
    assert.equal(byId.get(pi.nodeId)?.value[1], '1');
    assert.equal(byId.get(box.nodeId)?.metric.node_name, 'box-plain');
    assert.equal(byId.get(box.nodeId)?.value[1], '1');
    const odd = byId.get(fakeNodeRecord(7).id);
    assert.equal(odd?.metric.node_name, 'odd "name" \\ with\nnewline', 'label escaping survives the round trip');
    assert.equal(odd?.value[1], '0');

    const cpu = await query(api, 'picluster_node_cpu_usage_percent{job="picluster"}');
    const cpuById = new Map(cpu.map((s) => [s.metric.node_id, s]));
    assert.equal(cpuById.get(pi.nodeId)?.value[1], '12.5');
    assert.equal(cpuById.get(box.nodeId)?.value[1], '87.25');
    assert.equal(cpuById.get(pi.nodeId)?.metric.node_name, 'pi-hot');

    const temps = await query(api, 'picluster_node_temperature_celsius{job="picluster"}');
    assert.deepEqual(
      temps.map((s) => s.metric.node_id).filter((id) => id === pi.nodeId || id === box.nodeId),
      [pi.nodeId],
      'only the Pi has a temperature',
    );
  });
});
