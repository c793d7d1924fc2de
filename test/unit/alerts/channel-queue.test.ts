// One channel's delivery on a fake channel: retries and giving up, a full queue, quiet hours and
// their digest; and the channels' config checks that keep secrets out of logs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ChannelQueue } from '../../../src/alerts/channel-queue.js';
import { type Channel, channelConfigOf, scrubbed } from '../../../src/alerts/channels.js';
import type { AlertMessage } from '../../../src/alerts/message.js';
import { quietHoursOf } from '../../../src/alerts/quiet-hours.js';
import { silentLogger } from '../../../src/common/logger.js';
import { waitUntil } from '../../helpers/cluster.js';

const clock = { mono: 0, wall: Date.UTC(2026, 11, 6, 23, 0), monoMs: () => clock.mono, wallMs: () => clock.wall };

function fakeChannel(fail: (message: AlertMessage, attempt: number) => boolean) {
  const sent: AlertMessage[] = [];
  const tries = new Map<string, number>();
  const channel: Channel = {
    name: 'fake',
    type: 'webhook',
    target: 'http://127.0.0.1',
    async send(message) {
      const n = (tries.get(message.title) ?? 0) + 1;
      tries.set(message.title, n);
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (fail(message, n)) throw new Error(`refused try ${n} of ${message.title}`);
      sent.push(message);
    },
    close() {},
  };
  return { channel, sent, tries };
}

const message = (title: string, severity: 'warning' | 'critical' = 'warning'): AlertMessage => ({
  type: 'firing',
  title,
  text: title,
  severity,
  alerts: [],
  sentAt: clock.wall,
});

describe('channel queue', () => {
  it('retries a failing message, then gives up and goes on with the next; order is kept', async () => {
    const { channel, sent, tries } = fakeChannel((m, n) => m.title === 'never' || (m.title === 'late' && n < 3));
    const queue = new ChannelQueue(channel, { clock, log: silentLogger, retries: 3, retryMs: 5 });
    for (const title of ['late', 'never', 'next']) queue.push(message(title));
    await waitUntil(() => sent.length === 2 && queue.stats.failed === 1, 5000, 'the queue to drain');
    assert.deepEqual(
      sent.map((m) => m.title),
      ['late', 'next'],
    );
    assert.equal(tries.get('late'), 3);
    assert.equal(tries.get('never'), 4, 'one try and 3 retries');
    assert.equal(tries.get('next'), 1);
    assert.deepEqual(
      { ...queue.stats, lastErrorAt: null, lastSentAt: null },
      {
        sent: 2,
        failed: 1,
        retried: 5,
        dropped: 0,
        lastError: 'refused try 4 of never',
        lastErrorAt: null,
        lastSentAt: null,
      },
    );
    queue.close();
  });

  it('cuts off a try that hangs even when a garbage collection runs while it hangs', async () => {
    // A try's timeout once came from AbortSignal.any([stop, AbortSignal.timeout(ms)]): Node 20 holds
    // that timeout signal weakly, and a collection before it fired left the try hanging for ever.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    let tries = 0;
    const sent: AlertMessage[] = [];
    const channel: Channel = {
      name: 'hangs-once',
      type: 'webhook',
      target: 'http://127.0.0.1',
      send: (m) => (++tries === 1 ? new Promise<void>(() => undefined) : Promise.resolve(void sent.push(m))),
      close() {},
    };
    const queue = new ChannelQueue(channel, { clock, log: silentLogger, timeoutMs: 300, retryMs: 5 });
    queue.push(message('hung first'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc();
    gc();
    await waitUntil(() => sent.length === 1, 5000, 'the retry after the cut-off try');
    assert.equal(tries, 2);
    assert.equal(queue.stats.lastError, 'no answer within 300 ms');
    queue.close();
  });

  it('sends nothing once its primary no longer leads (HA): the messages are dropped, counted', async () => {
    const { channel, sent } = fakeChannel(() => false);
    let leads = true;
    const queue = new ChannelQueue(channel, { clock, log: silentLogger, mayAct: () => leads });
    queue.push(message('while leading'));
    await waitUntil(() => sent.length === 1, 5000, 'the first message sent');
    leads = false;
    queue.push(message('deposed 1'));
    queue.push(message('deposed 2'));
    await waitUntil(() => queue.stats.dropped === 2, 5000, 'both dropped');
    assert.deepEqual(
      sent.map((m) => m.title),
      ['while leading'],
    );
    queue.close();
  });

  it('a full queue drops the oldest waiting message, never the one being retried', async () => {
    let open = false;
    const { channel, sent, tries } = fakeChannel(() => !open);
    const queue = new ChannelQueue(channel, { clock, log: silentLogger, retries: 100, retryMs: 5, maxQueue: 2 });
    queue.push(message('first'));
    await waitUntil(() => (tries.get('first') ?? 0) >= 2, 5000, 'a retry of the first');
    for (const title of ['second', 'third', 'fourth']) queue.push(message(title));
    open = true;
    await waitUntil(() => sent.length === 2, 5000, 'the rest');
    assert.deepEqual(
      sent.map((m) => m.title),
      ['first', 'fourth'],
    );
    assert.equal(queue.stats.dropped, 2);
    queue.close();
  });

  it('quiet hours hold messages and send one digest when they end; a critical one goes at once', async () => {
    const { channel, sent } = fakeChannel(() => false);
    const quietHours = quietHoursOf({ from: '22:00', to: '07:00', timeZone: 'UTC' }, 'test');
    const queue = new ChannelQueue(channel, { clock, log: silentLogger, quietHours });
    clock.wall = Date.UTC(2026, 11, 6, 23, 0);
    queue.push(message('one'));
    queue.push(message('two'));
    queue.push(message('fire', 'critical'));
    queue.tick();
    await waitUntil(() => sent.length === 1, 5000, 'the critical message');
    assert.equal(sent[0]?.title, 'fire');
    assert.equal(queue.held, 2);
    clock.wall = Date.UTC(2026, 11, 7, 6, 59, 59);
    queue.tick();
    assert.equal(queue.held, 2);
    clock.wall = Date.UTC(2026, 11, 7, 7, 0, 0);
    queue.tick();
    await waitUntil(() => sent.length === 2, 5000, 'the digest');
    assert.equal(sent[1]?.type, 'digest');
    assert.match(sent[1]?.text ?? '', /one\n.*two$/);
    assert.equal(queue.held, 0);
    queue.close();
  });
});

describe('channel config', () => {
  it('refuses a URL with credentials or one that does not parse, without showing it', () => {
    for (const url of ['https://me:s3cret@hooks.example.net/x', 'https://hooks.example.net:99999/t0ken']) {
      assert.throws(
        () => channelConfigOf('hook', { type: 'webhook', url }),
        (err: Error) => /alert channel "hook": url/.test(err.message) && !/s3cret|t0ken/.test(err.message),
      );
    }
    assert.throws(() => channelConfigOf('m', { type: 'smtp', host: 'h', from: 'a@b' }), /a smtp channel needs "to"/);
    assert.throws(() => channelConfigOf('n', { type: 'ntfy', url: 'https://ntfy.sh' }), /needs "topic"/);
  });

  it("an error's text keeps a URL's origin only", () => {
    assert.equal(
      scrubbed('request to https://hooks.example.net/services/T0/B1/secret?x=1 failed'),
      'request to https://hooks.example.net failed',
    );
  });
});
