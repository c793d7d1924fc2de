// Alerts end to end. Real processes: a secondary SIGKILLed gives exactly one `offline` alert after
// its delay, delivered to a webhook (signature checked) and by mail (SMTP with STARTTLS and a
// login); a primary restarted meanwhile neither re-sends it nor resolves it; the node's return
// gives one "resolved" message on each. In-process primaries fed with scripted vitals: a
// temperature oscillating around the threshold fires once, one held above fires after `for` and
// repeats; a silence holds messages but keeps the history; quiet hours send one digest; a channel
// that is down is retried and delays no other; the CLI's alerts and silence commands.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { AlertsConfig } from '../../src/alerts/alerts-config.js';
import { alertsConfigOf } from '../../src/alerts/alerts-config.js';
import { Secondary } from '../../src/secondary/secondary.js';
import type { AlertRow } from '../../src/store/store-api.js';
import { startWebServer } from '../../src/web/server.js';
import { apiJson, nodesOnline, runCli, startPrimary, startSecondary, tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';
import { type Answer, type Received, secretFile, startHttpReceiver, startSmtpServer } from '../helpers/receivers.js';

const TOKEN = 'alerts-test-cluster-token-0123';
const WEBHOOK_SECRET = 'webhook-secret-for-the-test-0123';

const typesOf = (received: readonly Received[]) => received.map((r) => r.body.type as string);
const subjectOf = (raw: string) => /^Subject: (.*)$/m.exec(raw)?.[1] ?? '';

describe('alerts with real processes', () => {
  it('a node killed gives one offline alert after the delay (webhook, signed, and mail); a primary restart keeps it; its return resolves it once', async (t) => {
    const dir = tempDir(t);
    const hook = await startHttpReceiver(t);
    const smtp = await startSmtpServer(t, dir, { user: 'alerts', pass: 'mail-password-0123' });
    const config = join(dir, 'picluster.toml');
    writeFileSync(
      config,
      `
[alerts]
defaults = false
tick = "100ms"

[[alerts.rules]]
name = "node-offline"
kind = "offline"
for = "2s"

[alerts.channels.hook]
type = "webhook"
url = "${hook.url}/hook"
secretFile = "${secretFile(dir, 'webhook.secret', WEBHOOK_SECRET)}"

[alerts.channels.mail]
type = "smtp"
host = "127.0.0.1"
port = ${smtp.port}
tls = "starttls"
caFile = "${smtp.caFile}"
user = "alerts"
passwordFile = "${secretFile(dir, 'smtp.password', 'mail-password-0123')}"
from = "picluster@example.test"
to = ["owner@example.test"]
`,
    );
    const primaryArgs = ['--config', config];
    const primary = await startPrimary(t, { dataDir: join(dir, 'p'), args: primaryArgs });
    const nodeDir = join(dir, 'edge');
    let edge = startSecondary(t, primary, { dataDir: nodeDir, name: 'edge-1' });
    await nodesOnline(primary.api, ['edge-1']);

    edge.kill('SIGKILL');
    await waitUntil(
      () => hook.received.length >= 1 && smtp.mails.length >= 1,
      20_000,
      'the offline alert on both channels',
    );
    const [fired] = hook.received;
    assert.equal(fired?.body.type, 'firing');
    // The signature is the HMAC-SHA256 of the exact body under the channel's secret.
    const expected = `sha256=${createHmac('sha256', WEBHOOK_SECRET)
      .update(fired?.raw ?? '')
      .digest('hex')}`;
    assert.equal(fired?.headers['x-picluster-signature'], expected);
    assert.equal(fired?.headers['x-picluster-event'], 'firing');
    const alert = (fired?.body.alerts as AlertRow[] | undefined)?.[0] as AlertRow;
    assert.equal(alert.rule, 'node-offline');
    assert.equal(alert.nodeName, 'edge-1');
    assert.ok((alert.firedAt as number) - alert.startedAt >= 2000, 'fired only after the 2 s delay');
    const mail = smtp.mails[0];
    assert.equal(mail?.secure, true, 'sent after STARTTLS');
    assert.equal(mail?.user, 'alerts');
    assert.deepEqual(mail?.to, ['owner@example.test']);
    assert.match(subjectOf(mail?.raw ?? ''), /^\[FIRING\] node-offline on edge-1/);

    // The primary restarts while the alert fires: it is the same alert, still firing, not told again.
    primary.child.kill('SIGTERM');
    await once(primary.child.process, 'exit');
    const again = await startPrimary(t, {
      dataDir: primary.dataDir,
      port: primary.port,
      webPort: primary.webPort,
      args: primaryArgs,
    });
    // Past the rule's delay after the restart: a node still down is still the one firing alert.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const open = (await apiJson<{ alerts: AlertRow[] }>(again.api, 'GET', '/api/alerts')).alerts;
    assert.deepEqual(
      open.map((a) => [a.id, a.state]),
      [[alert.id, 'firing']],
    );
    assert.deepEqual(typesOf(hook.received), ['firing']);
    assert.equal(smtp.mails.length, 1);

    edge = startSecondary(t, again, { dataDir: nodeDir, name: 'edge-1' });
    await waitUntil(
      () => hook.received.length >= 2 && smtp.mails.length >= 2,
      20_000,
      'the resolved message on both channels',
    );
    assert.deepEqual(typesOf(hook.received), ['firing', 'resolved']);
    assert.equal((hook.received[1]?.body.alerts as AlertRow[] | undefined)?.[0]?.id, alert.id);
    assert.match(subjectOf(smtp.mails[1]?.raw ?? ''), /^\[RESOLVED\] node-offline on edge-1/);
    // Nothing more comes: one firing, one resolved on each channel.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(hook.received.length, 2);
    assert.equal(smtp.mails.length, 2);
    const history = (await apiJson<{ alerts: AlertRow[] }>(again.api, 'GET', '/api/alerts/history')).alerts;
    assert.deepEqual(
      history.map((a) => [a.id, a.state, a.notified]),
      [[alert.id, 'resolved', 1]],
    );
    const metrics = await (await fetch(`${again.api}/metrics`)).text();
    assert.match(metrics, /picluster_alerts_firing\{rule="node-offline"\} 0/);
    assert.match(metrics, /picluster_alert_notifications_total\{channel="mail",result="sent"\} 1/);
  });
});

/** A temperature per node name, changed by the test as it goes. */
type Temps = Map<string, () => number>;

async function inProcess(t: TestContext, alerts: AlertsConfig, names: string[], temps: Temps) {
  const dir = tempDir(t);
  const primary = await startLibraryPrimary(t, {
    dataDir: join(dir, 'p'),
    token: TOKEN,
    heartbeatIntervalMs: 300,
    alerts,
  });
  const web = await startWebServer(primary, { port: 0, bind: '127.0.0.1', streamCoalesceMs: 100 });
  t.after(() => web.close());
  for (const name of names) {
    const secondary = new Secondary({
      primary: `127.0.0.1:${primary.port}`,
      dataDir: join(dir, name),
      name,
      token: TOKEN,
      tls: { fingerprint: primary.tlsFingerprint as string },
      vitalsPeriodMs: 100,
      machineInfo: async () => ({
        hostname: name,
        os: 'test',
        kernel: '6',
        arch: 'arm64',
        cpuModel: 'A72',
        cpuCores: 4,
        ramTotalBytes: 4e9,
        swapTotalBytes: 0,
        version: 'test',
      }),
      machineId: async () => `m-${name}`,
      vitals: {
        read: async () => ({
          ts: Date.now(),
          cpuPercent: 5,
          ramAvailableBytes: 1e9,
          swapFreeBytes: 0,
          load1: 0,
          load5: 0,
          load15: 0,
          uptimeS: 5,
          tempC: temps.get(name)?.() ?? 40,
          disks: [],
          nets: [],
        }),
      },
    });
    await secondary.start();
    t.after(() => secondary.stop());
  }
  const api = `http://127.0.0.1:${web.port}`;
  await nodesOnline(api, names);
  return { primary, api };
}

const alertsOf = (received: readonly Received[], node: string) =>
  received.flatMap((r) => (r.body.alerts as Array<AlertRow & { event: string }>).filter((a) => a.nodeName === node));

describe('alert rules fed with scripted vitals', () => {
  it('a temperature oscillating around the threshold fires once and does not flap; one held above fires after `for` and repeats', async (t) => {
    const hook = await startHttpReceiver(t);
    let flip = false;
    const temps: Temps = new Map([
      [
        'wobbly',
        () => {
          flip = !flip;
          return flip ? 81 : 79;
        },
      ],
      ['hot', () => 90],
      ['cool', () => 50],
    ]);
    const config = alertsConfigOf({
      defaults: false,
      tick: '50ms',
      rules: [
        { name: 'cpu-hot', kind: 'vital', vital: 'temperature', threshold: 80, clear: 75, for: '1s', repeat: '1500ms' },
      ],
      channels: { hook: { type: 'webhook', url: `${hook.url}/hook` } },
    });
    await inProcess(t, config, ['wobbly', 'hot', 'cool'], temps);
    await waitUntil(
      () => alertsOf(hook.received, 'hot').filter((a) => a.event === 'repeat').length >= 2,
      15_000,
      'two repeats',
    );
    const hot = hook.received.filter((r) => alertsOf([r], 'hot').length > 0);
    assert.deepEqual(
      hot.map((r) => r.body.type),
      ['firing', 'repeat', 'repeat'],
    );
    const fired = (hot[0]?.body.alerts as AlertRow[] | undefined)?.[0] as AlertRow;
    assert.ok((fired.firedAt as number) - fired.startedAt >= 1000, 'not before `for`');
    // Timed by the primary's stamps (sentAt): a loaded machine delays arrivals, not decisions.
    const sentAt = hot.map((r) => r.body.sentAt as number);
    const gaps = sentAt.slice(1).map((at, i) => at - (sentAt[i] as number));
    for (const gap of gaps) assert.ok(gap >= 1450 && gap < 3000, `repeats every 1.5 s: ${gaps.join(', ')}`);
    // The oscillating node fired once (79 never reaches the clear threshold of 75) and never resolved.
    const wobbly = alertsOf(hook.received, 'wobbly').map((a) => a.event);
    assert.equal(wobbly.filter((e) => e === 'firing').length, 1, wobbly.join(','));
    assert.equal(wobbly.includes('resolved'), false);
    assert.deepEqual(alertsOf(hook.received, 'cool'), []);
  });

  it('a silence holds messages but keeps the history; quiet hours send one digest; a channel that is down is retried and delays no other', async (t) => {
    // "down" does not answer its first two tries (cut off at 1.5 s each), then takes them.
    const down = await startHttpReceiver(t, (n): Answer => (n < 2 ? 'hang' : 'ok'));
    const up = await startHttpReceiver(t);
    const night = await startHttpReceiver(t);
    const hhmmss = (ms: number) => new Date(ms).toISOString().slice(11, 19);
    const temps: Temps = new Map([
      ['quiet-node', () => 40],
      ['loud-node', () => 40],
    ]);
    const config = alertsConfigOf({
      defaults: false,
      tick: '50ms',
      rules: [
        {
          name: 'hot',
          kind: 'vital',
          vital: 'temperature',
          threshold: 80,
          for: 0,
          repeat: 0,
          channels: ['down', 'up'],
        },
        {
          name: 'hot-at-night',
          kind: 'vital',
          vital: 'temperature',
          threshold: 80,
          for: 0,
          repeat: 0,
          channels: ['night'],
        },
      ],
      channels: {
        down: { type: 'webhook', url: `${down.url}/down`, timeoutMs: 1500, retryMs: 200 },
        up: { type: 'webhook', url: `${up.url}/up` },
        // Quiet from a minute ago until 20 s from now (UTC): what fires meanwhile waits for the digest.
        night: {
          type: 'webhook',
          url: `${night.url}/night`,
          quietHours: { from: hhmmss(Date.now() - 60_000), to: hhmmss(Date.now() + 20_000), timeZone: 'UTC' },
        },
      },
    });
    const { api } = await inProcess(t, config, ['quiet-node', 'loud-node'], temps);

    // A silence on quiet-node: its alerts happen, but nobody is told.
    await apiJson(api, 'POST', '/api/silences', { node: 'quiet-node', for: '1h', comment: 'moving it' });
    temps.set('quiet-node', () => 95);
    const silenced = await waitUntil(
      async () =>
        (await apiJson<{ alerts: AlertRow[] }>(api, 'GET', '/api/alerts/history')).alerts.find(
          (a) => a.nodeName === 'quiet-node' && a.rule === 'hot',
        ),
      10_000,
      'the silenced alert in the history',
    );
    assert.equal(silenced.state, 'firing');
    assert.equal(silenced.silenced, true);
    assert.equal(silenced.notified, 0);
    assert.equal(silenced.suppressed, 1);

    // loud-node heats up: "up" has it at once though "down" hangs; "down" gets it on its third try.
    temps.set('loud-node', () => 95);
    await waitUntil(() => up.received.length >= 1, 10_000, 'the up channel');
    // Taken while down's first try still hangs (cut off only after 1.5 s).
    assert.ok(down.tries() <= 1, `down had ${down.tries()} tries when up had it`);
    assert.equal(down.received.length, 0, 'down had not taken it yet');
    await waitUntil(() => down.received.length >= 1, 15_000, 'the down channel after its retries');
    assert.equal(down.tries(), 3);
    type Channels = { channels: Array<{ name: string; stats: { retried: number; sent: number } }> };
    const downStats = await waitUntil(
      async () =>
        (await apiJson<Channels>(api, 'GET', '/api/alerts/channels')).channels.find(
          (c) => c.name === 'down' && c.stats.sent === 1,
        )?.stats,
      5000,
      "down's stats",
    );
    assert.equal(downStats.retried, 2);
    for (const r of [...up.received, ...down.received]) {
      assert.deepEqual(
        (r.body.alerts as AlertRow[]).map((a) => a.nodeName),
        ['loud-node'],
        'nothing of the silenced node',
      );
    }

    // The night channel was quiet: nothing yet, then one digest of both of its alerts (the silence
    // holds quiet-node's: only loud-node's comes).
    assert.equal(night.received.length, 0);
    await waitUntil(() => night.received.length >= 1, 30_000, 'the digest');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(night.received.length, 1);
    const digest = night.received[0]?.body as { type: string; alerts: Array<{ nodeName: string; event: string }> };
    assert.equal(digest.type, 'digest');
    assert.deepEqual(
      digest.alerts.map((a) => [a.nodeName, a.event]),
      [['loud-node', 'firing']],
    );
  });
});

describe('picluster alerts and silence', () => {
  it('lists alerts, rules and channels; adds and removes a silence; sends a test message; says what is wrong', async (t) => {
    const hook = await startHttpReceiver(t);
    const ntfy = await startHttpReceiver(t);
    const config = alertsConfigOf({
      tick: '50ms',
      rules: [{ name: 'warm', kind: 'vital', vital: 'temperature', threshold: 30, for: 0 }],
      channels: {
        hook: { type: 'webhook', url: `${hook.url}/hook`, secret: WEBHOOK_SECRET },
        phone: { type: 'ntfy', url: ntfy.url, topic: 'fleet-alerts', tags: ['pi'], token: 'tk_ntfy-secret-token' },
      },
    });
    const { api } = await inProcess(t, config, ['cli-node'], new Map());
    const cli = (args: string[]) => runCli([...args, '--api', api]);
    await waitUntil(async () => (await cli(['alerts'])).stdout.includes('warm'), 10_000, 'the alert in the list');
    const list = await cli(['alerts', '--json']);
    const alerts = (JSON.parse(list.stdout) as { alerts: AlertRow[] }).alerts;
    assert.equal(alerts[0]?.rule, 'warm');
    const rules = await cli(['alerts', 'rules']);
    assert.match(rules.stdout, /^warm\s+vital\s+temperature above 30/m);
    assert.match(rules.stdout, /^node-offline\s+offline\s+offline \(lost\)\s+2 min\s+4 h\s+warning\s+all\s+default/m);
    const channels = await cli(['alerts', 'channels']);
    assert.match(channels.stdout, new RegExp(`^hook\\s+webhook\\s+${hook.url.replace(/[.]/g, '\\.')}\\s+1\\s+0`, 'm'));
    assert.doesNotMatch(
      channels.stdout + (await cli(['alerts', 'channels', '--json'])).stdout,
      new RegExp(WEBHOOK_SECRET),
    );

    // ntfy's JSON publish: topic, title, message, priority (4: a warning firing), tags, a bearer token.
    await waitUntil(() => ntfy.received.length >= 1, 10_000, 'the ntfy publish');
    const publish = ntfy.received[0];
    assert.equal(publish?.path, '/');
    assert.equal(publish?.headers.authorization, 'Bearer tk_ntfy-secret-token');
    assert.equal(publish?.body.topic, 'fleet-alerts');
    assert.equal(publish?.body.priority, 4);
    assert.deepEqual(publish?.body.tags, ['rotating_light', 'pi']);
    assert.match(publish?.body.title as string, /^\[FIRING\] warm on cli-node: \d+ °C$/);

    const test = await cli(['alerts', 'test', 'hook']);
    assert.equal(test.code, 0, test.stderr);
    assert.equal(hook.received.at(-1)?.body.type, 'test');
    const missing = await cli(['alerts', 'test', 'pager']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no alert channel "pager" \(configured: hook, phone\)/);

    const added = await cli(['silence', 'add', '--rule', 'warm', '--for', '2h', '--comment', 'known']);
    assert.equal(added.code, 0, added.stderr);
    const id = added.stdout.split(' ')[0] as string;
    assert.match(
      (await cli(['silence'])).stdout,
      new RegExp(`^${id}\\s+warm\\s+\\*\\s+\\*\\s+\\S+ \\S+\\s+cli \\(loopback\\)\\s+known`, 'm'),
    );
    assert.match((await cli(['alerts'])).stdout, /silenced/);
    const bad = await cli(['silence', 'add', '--rule', 'warm', '--for', 'soon']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /for = "soon" is not a duration/);
    const none = await cli(['silence', 'add', '--for', '1h']);
    assert.match(none.stderr, /say what to silence/);
    const removed = await cli(['silence', 'remove', id]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match((await cli(['silence'])).stdout, /^no silences$/m);
  });

  it('a bad [alerts] table stops the primary with exit 2 and one line naming the rule', async (t) => {
    const dir = tempDir(t);
    const config = join(dir, 'bad.toml');
    writeFileSync(config, '[[alerts.rules]]\nname = "hot"\nkind = "vital"\nvital = "temperature"\n');
    const result = await runCli(['primary', '--config', config, '--data-dir', join(dir, 'p'), '--port', '0']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /alert rule "hot": a vital rule needs "threshold"/);
  });
});
