// The alert engine on a manual clock: pending → firing → resolved, hysteresis, repeats, flap
// damping, silences, a restart's reload, and the rules' checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlertEngine, type Notification } from '../../../src/alerts/engine.js';
import { quietHoursOf } from '../../../src/alerts/quiet-hours.js';
import { DEFAULT_RULES, ruleOf } from '../../../src/alerts/rules.js';
import type { NodeView } from '../../../src/protocol/node-view.js';
import type { AlertRow, ReceivedVitals } from '../../../src/store/store-api.js';

class ManualClock {
  mono = 1_000;
  wall = Date.UTC(2026, 11, 6, 12);
  monoMs = () => this.mono;
  wallMs = () => this.wall;
  advance(ms: number): void {
    this.mono += ms;
    this.wall += ms;
  }
}

const node = (over: Partial<NodeView> = {}): NodeView => ({
  id: 'n1',
  name: 'pi-1',
  state: 'online',
  labels: { room: 'attic' },
  address: '10.0.0.2',
  legacy: false,
  info: {
    hostname: 'pi-1',
    os: 'Debian',
    kernel: '6',
    arch: 'arm64',
    cpuModel: 'A72',
    cpuCores: 4,
    ramTotalBytes: 4e9,
    swapTotalBytes: 1e9,
    version: '0.1.0',
  },
  vitals: null,
  lastSeen: 0,
  connectedSince: 0,
  clockSkewMs: null,
  ...over,
});

const sample = (over: Partial<ReceivedVitals> = {}): ReceivedVitals => ({
  seq: 1,
  ts: 0,
  cpuPercent: 10,
  ramAvailableBytes: 2e9,
  swapFreeBytes: 1e9,
  load1: 0.1,
  load5: 0.1,
  load15: 0.1,
  uptimeS: 100,
  disks: [{ mount: '/', freeBytes: 50, totalBytes: 100 }],
  nets: [],
  receivedAt: 0,
  ...over,
});

function setup(
  rules: unknown[],
  options: { flapCount?: number; flapWindowMs?: number; silenced?: (a: AlertRow) => boolean } = {},
) {
  const clock = new ManualClock();
  const saved: AlertRow[] = [];
  const engine = new AlertEngine({ clock, save: (a) => saved.push(a), ...options });
  engine.setRules(rules.map((r) => ruleOf(r, 'config')));
  const told: Notification[] = [];
  engine.on('notify', (n) => told.push(n));
  return { clock, engine, told, saved, events: () => told.map((n) => n.event) };
}

const hot = { name: 'hot', kind: 'vital', vital: 'temperature', threshold: 80, clear: 75, for: '5m', repeat: '1h' };

describe('alert engine', () => {
  it('a temperature oscillating around the threshold fires once after `for` and does not flap', () => {
    const { clock, engine, events } = setup([hot]);
    for (let i = 0; i < 60; i++) {
      engine.vitals(node(), sample({ tempC: i % 2 === 0 ? 81 : 79 }));
      engine.tick();
      clock.advance(10_000);
    }
    // 10 min of 79/81 with a clear threshold of 75: it fired at 5 min, once.
    assert.deepEqual(events(), ['firing']);
    assert.equal(engine.open()[0]?.state, 'firing');
    engine.vitals(node(), sample({ tempC: 70 }));
    assert.deepEqual(events(), ['firing', 'resolved']);
    assert.deepEqual(engine.open(), []);
  });

  it('a pending alert that clears before `for` is never told, nor stored', () => {
    const { clock, engine, events, saved } = setup([hot]);
    engine.vitals(node(), sample({ tempC: 85 }));
    clock.advance(60_000);
    engine.tick();
    assert.equal(engine.open()[0]?.state, 'pending');
    engine.vitals(node(), sample({ tempC: 60 }));
    clock.advance(600_000);
    engine.tick();
    assert.deepEqual(events(), []);
    assert.deepEqual(saved, []);
  });

  it('a value held above repeats at the repeat interval, not between', () => {
    const { clock, engine, events } = setup([hot]);
    engine.vitals(node(), sample({ tempC: 90 }));
    for (let s = 0; s < 5 * 60 + 3 * 3600; s += 10) {
      clock.advance(10_000);
      engine.tick();
    }
    assert.deepEqual(events(), ['firing', 'repeat', 'repeat', 'repeat']);
  });

  it('offline fires after its delay; a node that left never alerts; resolves when it is back', () => {
    const { clock, engine, events } = setup([{ name: 'down', kind: 'offline', for: '2m' }]);
    engine.node(node({ state: 'lost' }));
    clock.advance(119_000);
    engine.tick();
    assert.deepEqual(events(), []);
    clock.advance(2_000);
    engine.tick();
    assert.deepEqual(events(), ['firing']);
    engine.node(node({ state: 'online' }));
    assert.deepEqual(events(), ['firing', 'resolved']);
    engine.node(node({ state: 'left' }));
    clock.advance(600_000);
    engine.tick();
    assert.deepEqual(events(), ['firing', 'resolved']);
  });

  it('a rule that fires and resolves flapCount times in the window is held firing until it stays clear', () => {
    const { clock, engine, events } = setup([{ name: 'down', kind: 'offline', for: 0, repeat: 0 }], {
      flapCount: 3,
      flapWindowMs: 600_000,
    });
    for (let i = 0; i < 5; i++) {
      engine.node(node({ state: 'lost' }));
      clock.advance(10_000);
      engine.node(node({ state: 'online' }));
      clock.advance(10_000);
    }
    // Fired, resolved, fired, resolved, fired (flapping: held), nothing more while it flaps.
    assert.deepEqual(events(), ['firing', 'resolved', 'firing', 'resolved', 'firing']);
    const held = engine.open()[0];
    assert.equal(held?.state, 'firing');
    assert.equal(held?.flapping, true);
    // Clear for 10 s already: 580 s more is still inside the 600 s window, 30 s more is past it.
    clock.advance(580_000);
    engine.tick();
    assert.equal(engine.open().length, 1);
    clock.advance(30_000);
    engine.tick();
    assert.deepEqual(events().at(-1), 'resolved');
    assert.deepEqual(engine.open(), []);
  });

  it('a silence holds the messages but keeps the alert; once it ends the alert is told', () => {
    let silenced = true;
    const { clock, engine, events, saved } = setup([{ ...hot, for: 0 }], { silenced: () => silenced });
    engine.vitals(node(), sample({ tempC: 90 }));
    clock.advance(3_600_000);
    engine.tick();
    assert.deepEqual(events(), []);
    assert.equal(saved.at(-1)?.suppressed, 2);
    assert.equal(saved.at(-1)?.state, 'firing');
    silenced = false;
    engine.tick();
    assert.deepEqual(events(), ['firing']);
  });

  it('per-node overrides by label change the threshold; scope limits the nodes', () => {
    const { engine, events } = setup([
      { ...hot, for: 0, nodes: 'room=attic', overrides: [{ nodes: 'model=pi5', threshold: 90, clear: 85 }] },
    ]);
    engine.vitals(node({ id: 'n2', labels: { room: 'cellar' } }), sample({ tempC: 95 }));
    engine.vitals(node({ id: 'n3', labels: { room: 'attic', model: 'pi5' } }), sample({ tempC: 85 }));
    assert.deepEqual(events(), []);
    engine.vitals(node({ id: 'n4', labels: { room: 'attic' } }), sample({ tempC: 85 }));
    assert.deepEqual(events(), ['firing']);
  });

  it('disk rules watch each mount apart; Pi flags since boot are told once, not repeated', () => {
    const { clock, engine, told } = setup([
      { name: 'disk', kind: 'vital', vital: 'diskFreePercent', threshold: 10 },
      { name: 'uv', kind: 'throttle', flag: 'under-voltage', when: 'since-boot' },
    ]);
    const disks = [
      { mount: '/', freeBytes: 5, totalBytes: 100 },
      { mount: '/data', freeBytes: 8, totalBytes: 100 },
      { mount: '/boot', freeBytes: 50, totalBytes: 100 },
    ];
    engine.vitals(node(), sample({ disks, throttled: { now: [], sinceBoot: ['under-voltage'] } }));
    for (let i = 0; i < 10; i++) {
      clock.advance(3_600_000);
      engine.vitals(node(), sample({ disks, throttled: { now: [], sinceBoot: ['under-voltage'] } }));
      engine.tick();
    }
    const uv = told.filter((n) => n.alert.rule === 'uv').map((n) => n.event);
    assert.deepEqual(uv, ['firing']);
    const firstDisk = told.filter((n) => n.alert.rule === 'disk' && n.event === 'firing').map((n) => n.alert.subject);
    assert.deepEqual(firstDisk.slice(0, 2).sort(), ['/', '/data']);
  });

  it("a legacy node's sample (no disks, no load) gives disk and load rules nothing to see", () => {
    const { engine, events } = setup([
      { name: 'disk', kind: 'vital', vital: 'diskFreePercent', threshold: 100, op: 'below' },
      { name: 'load', kind: 'vital', vital: 'loadPerCore', threshold: 0 },
      { name: 'busy', kind: 'vital', vital: 'cpuPercent', threshold: 0 },
    ]);
    const legacy = { seq: 1, ts: 0, cpuPercent: 50, ramAvailableBytes: 1, swapFreeBytes: 0, receivedAt: 0 };
    engine.vitals(node({ legacy: true }), legacy as unknown as ReceivedVitals);
    assert.deepEqual(events(), ['firing']);
    assert.equal(engine.open()[0]?.rule, 'busy');
  });

  it('a reloaded firing alert is not told again as new, and repeats on its stored schedule', () => {
    const first = setup([hot]);
    first.engine.vitals(node(), sample({ tempC: 90 }));
    first.clock.advance(300_000);
    first.engine.tick();
    const stored = first.saved.at(-1) as AlertRow;
    assert.equal(stored.state, 'firing');
    const second = setup([hot]);
    second.clock.wall = stored.lastNotifiedAt as number;
    second.clock.advance(1_800_000); // restarted half an hour later
    second.engine.load([stored]);
    second.engine.vitals(node(), sample({ tempC: 90 }));
    second.engine.tick();
    assert.deepEqual(second.events(), []);
    second.clock.advance(1_800_000);
    second.engine.tick();
    assert.deepEqual(second.events(), ['repeat']);
    assert.equal(second.engine.open()[0]?.id, stored.id);
  });
});

describe('alert engine: what ends an alert', () => {
  it('a node that leaves the scope (its labels or the rule changed) resolves; a node that left ends every alert', () => {
    const { engine, events, told } = setup([{ ...hot, for: 0, nodes: 'room=attic' }]);
    engine.vitals(node(), sample({ tempC: 90 }));
    engine.vitals(node({ labels: { room: 'cellar' } }), sample({ tempC: 90 }));
    assert.deepEqual(events(), ['firing', 'resolved']);
    assert.equal(told[1]?.alert.detail, 'no longer watched on this node');
    engine.vitals(node(), sample({ tempC: 90 }));
    engine.setRules([ruleOf({ ...hot, for: 0, nodes: 'room=cellar' }, 'config')]);
    assert.deepEqual(events(), ['firing', 'resolved', 'firing', 'resolved'], 'the rule now watches other nodes');
    engine.vitals(node({ labels: { room: 'cellar' } }), sample({ tempC: 90 }));
    engine.node(node({ state: 'left', labels: { room: 'cellar' } }));
    assert.deepEqual(events().slice(-2), ['firing', 'resolved']);
    assert.deepEqual(engine.open(), []);
  });

  it('a lost node drops its pending vital alerts: no sample will confirm them', () => {
    const { clock, engine, events } = setup([hot]);
    engine.vitals(node(), sample({ tempC: 85 }));
    engine.node(node({ state: 'lost' }));
    clock.advance(600_000);
    engine.tick();
    assert.deepEqual(events(), []);
  });

  it('a resolved message goes even under a silence, to whoever had the firing one', () => {
    let silenced = false;
    const { engine, events } = setup([{ ...hot, for: 0 }], { silenced: () => silenced });
    engine.vitals(node(), sample({ tempC: 90 }));
    silenced = true;
    engine.vitals(node(), sample({ tempC: 60 }));
    assert.deepEqual(events(), ['firing', 'resolved']);
  });

  it('a mount that goes resolves its alert; a new boot with the flag again is told again', () => {
    const { engine, told } = setup([
      { name: 'disk', kind: 'vital', vital: 'diskFreePercent', threshold: 10 },
      { name: 'uv', kind: 'throttle', flag: 'under-voltage', when: 'since-boot' },
    ]);
    const usb = { mount: '/mnt/usb', freeBytes: 1, totalBytes: 100 };
    const root = { mount: '/', freeBytes: 50, totalBytes: 100 };
    const boot = (bootId: string) => node({ info: { ...(node().info as NonNullable<NodeView['info']>), bootId } });
    const flags = { now: [], sinceBoot: ['under-voltage'] };
    engine.vitals(boot('b1'), sample({ disks: [root, usb], throttled: flags }));
    engine.vitals(boot('b1'), sample({ disks: [root], throttled: flags }));
    engine.vitals(boot('b2'), sample({ disks: [root], throttled: flags }));
    assert.deepEqual(
      told.map((n) => `${n.alert.rule} ${n.event} ${n.alert.detail}`),
      [
        'disk firing /mnt/usb 1 % free',
        'uv firing under-voltage since boot',
        'disk resolved /mnt/usb is gone',
        'uv resolved the node booted again',
        'uv firing under-voltage since boot',
      ],
    );
  });

  it("an override with a threshold only keeps the rule's hysteresis; a failed task is told once", () => {
    const { clock, engine, told } = setup([
      { ...hot, for: 0, repeat: 0, overrides: [{ nodes: 'model=pi5', threshold: 85 }] },
      { name: 'job', kind: 'task-failed' },
    ]);
    const pi5 = node({ labels: { model: 'pi5' } });
    for (const tempC of [85, 84.9, 85, 81, 85]) engine.vitals(pi5, sample({ tempC }));
    const failed = { kind: 'shell', state: 'failed', error: { code: 'ERR_TASK_FAILED', message: 'exit 1' } };
    engine.task(node(), failed as never);
    clock.advance(24 * 3_600_000);
    engine.tick();
    assert.deepEqual(
      told.map((n) => `${n.alert.rule} ${n.event}`),
      ['hot firing', 'job firing'],
    );
    engine.vitals(pi5, sample({ tempC: 79 }));
    engine.task(node(), { kind: 'shell', state: 'succeeded', error: null } as never);
    assert.deepEqual(
      told.slice(2).map((n) => `${n.alert.rule} ${n.event}`),
      ['hot resolved', 'job resolved'],
    );
  });
});

describe('alert rules and quiet hours', () => {
  it('the defaults load, and a bad rule is refused with its name and why', () => {
    for (const rule of DEFAULT_RULES) ruleOf(rule, 'default');
    assert.throws(
      () => ruleOf({ name: 'x', kind: 'vital', threshold: 3 }, 'config'),
      /alert rule "x": a vital rule needs "vital"/,
    );
    assert.throws(
      () => ruleOf({ name: 'y', kind: 'vital', vital: 'temperature', threshold: 80, clear: 85 }, 'config'),
      /clear \(85\) must be on the good side/,
    );
    assert.throws(() => ruleOf({ name: 'z', kind: 'offline', for: 'soon' }, 'config'), /not a duration/);
    assert.throws(() => ruleOf({ name: 'w', kind: 'offline', bogus: 1 }, 'config'), /alert rule "w"/);
    assert.throws(
      () => ruleOf({ ...hot, overrides: [{ nodes: 'a=b', threshold: 85, clear: 90 }] }, 'config'),
      /an override's clear \(90\) must be on the good side of its threshold \(85\)/,
    );
  });

  it('quiet hours across midnight, in a time zone', () => {
    const quiet = quietHoursOf({ from: '22:00', to: '07:00', timeZone: 'Europe/Paris' }, 'test');
    assert.equal(quiet.isQuiet(Date.UTC(2026, 11, 6, 22, 30)), true); // 23:30 in Paris
    assert.equal(quiet.isQuiet(Date.UTC(2026, 11, 7, 5, 59)), true); // 06:59
    assert.equal(quiet.isQuiet(Date.UTC(2026, 11, 7, 6, 0)), false); // 07:00
    assert.equal(quiet.isQuiet(Date.UTC(2026, 11, 7, 12, 0)), false);
    assert.throws(() => quietHoursOf({ from: '25:00', to: '07:00' }, 'ch'), /not a time of day/);
    assert.throws(() => quietHoursOf({ from: '22:00', to: '07:00', timeZone: 'Mars/Base' }, 'ch'), /unknown time zone/);
  });
});
