import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { VitalsPayload } from '../../../src/protocol/messages.js';
import { Outbox } from '../../../src/secondary/outbox.js';
import { encodeRecord } from '../../../src/secondary/record-log.js';

const reading = (ts: number): Omit<VitalsPayload, 'seq'> => ({
  ts,
  cpuPercent: 1,
  ramAvailableBytes: 1,
  swapFreeBytes: 0,
  load1: 0,
  load5: 0,
  load15: 0,
  uptimeS: 1,
  disks: [],
  nets: [],
});

function outboxFile(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'outbox.jsonl');
}

const seqs = (o: Outbox) => o.after(0).map((s) => s.seq);

describe('Outbox', () => {
  it('numbers samples from 1 and forgets them once acknowledged', (t) => {
    const o = new Outbox(outboxFile(t));
    for (let i = 0; i < 5; i++) o.append(reading(i));
    assert.deepEqual(seqs(o), [1, 2, 3, 4, 5]);
    o.ack(3);
    assert.deepEqual(seqs(o), [4, 5]);
    assert.deepEqual(
      o.after(4).map((s) => s.seq),
      [5],
    );
    o.close();
  });

  it('keeps unacknowledged samples and the seq counter across a restart', (t) => {
    const file = outboxFile(t);
    const a = new Outbox(file);
    for (let i = 0; i < 5; i++) a.append(reading(i));
    a.ack(2);
    a.close();
    const b = new Outbox(file);
    assert.deepEqual(seqs(b), [3, 4, 5]);
    assert.equal(b.append(reading(9)).seq, 6);
    b.ack(6);
    b.close();
    const c = new Outbox(file);
    assert.deepEqual([seqs(c), c.lastSeq], [[], 6]);
    c.close();
  });

  it('keeps unacknowledged samples across two restarts (a compaction writes its header before the samples)', (t) => {
    const file = outboxFile(t);
    const a = new Outbox(file);
    for (let i = 0; i < 5; i++) a.append(reading(i));
    a.ack(1);
    a.close();
    new Outbox(file).close(); // the first restart compacts: header {lastSeq: 5}, then samples 2..5
    const c = new Outbox(file);
    assert.deepEqual([seqs(c), c.lastSeq], [[2, 3, 4, 5], 5]);
    c.close();
  });

  it('drops the oldest when full and reports how many it dropped', (t) => {
    const o = new Outbox(outboxFile(t), { maxSamples: 3 });
    for (let i = 0; i < 5; i++) o.append(reading(i));
    assert.deepEqual([seqs(o), o.dropped], [[3, 4, 5], 2]);
    assert.equal(o.append(reading(9)).dropped, 3);
    o.close();
  });

  it('skips a torn last line left by a crash mid-write', (t) => {
    const file = outboxFile(t);
    const a = new Outbox(file);
    a.append(reading(1));
    a.append(reading(2));
    a.close();
    appendFileSync(file, '{"s":{"seq":3,"ts":');
    const b = new Outbox(file);
    assert.deepEqual(seqs(b), [1, 2]);
    assert.equal(b.append(reading(3)).seq, 3);
    b.close();
  });

  it('continues numbering past what the primary already stored', (t) => {
    const o = new Outbox(outboxFile(t));
    o.append(reading(1));
    o.ack(40);
    o.advanceTo(40);
    assert.equal(o.append(reading(2)).seq, 41);
    o.close();
  });

  it('compacts its file instead of growing forever', (t) => {
    const file = outboxFile(t);
    const o = new Outbox(file, { maxSamples: 10 });
    for (let i = 0; i < 5000; i++) {
      o.append(reading(i));
      o.ack(o.lastSeq);
    }
    o.close();
    assert.ok(readFileSync(file, 'utf8').split('\n').length < 2 * 10 + 1100);
    const again = new Outbox(file, { maxSamples: 10 });
    assert.deepEqual([seqs(again), again.lastSeq], [[], 5000]);
    again.close();
  });
});

describe('Outbox after losing its tail (a power cut)', () => {
  it('renumbers the samples of this run past what the primary already stored', (t) => {
    const o = new Outbox(outboxFile(t)); // the file was lost
    for (let i = 0; i < 3; i++) o.append(reading(i));
    o.welcomed(29); // the primary has seqs up to 29
    assert.deepEqual(seqs(o), [30, 31, 32]);
    assert.equal(o.append(reading(9)).seq, 33);
    o.close();
  });

  it('keeps the mark of the samples never sent across restarts, until a primary welcomes it', (t) => {
    const file = outboxFile(t);
    const a = new Outbox(file); // the file was lost
    for (let i = 1; i <= 3; i++) a.append(reading(i));
    a.close(); // restarted before it ever connected
    const b = new Outbox(file);
    for (let i = 4; i <= 5; i++) b.append(reading(i));
    b.welcomed(500);
    assert.deepEqual(
      b.after(0).map((s) => [s.seq, s.ts]),
      [
        [501, 1],
        [502, 2],
        [503, 3],
        [504, 4],
        [505, 5],
      ],
    );
    assert.equal(b.dropped, 0);
    b.close(); // 501..505 went out on that link: after a restart they are not taken for unsent
    const c = new Outbox(file);
    c.append(reading(6));
    c.welcomed(600); // the primary stored 501..505 and more of an older life
    assert.deepEqual(
      c.after(0).map((s) => [s.seq, s.ts]),
      [[601, 6]],
    );
    c.close();
  });

  it('opens an outbox written without the mark (an older picluster): its samples count as sent', (t) => {
    const file = outboxFile(t);
    writeFileSync(
      file,
      [{ h: { lastSeq: 3, dropped: 0 } }, ...[1, 2, 3].map((seq) => ({ s: { ...reading(seq), seq } }))]
        .map(encodeRecord)
        .join(''),
    );
    const o = new Outbox(file);
    assert.deepEqual(seqs(o), [1, 2, 3]);
    o.append(reading(4));
    o.welcomed(500);
    assert.deepEqual(
      o.after(0).map((s) => [s.seq, s.ts]),
      [[501, 4]],
    );
    o.close();
  });
});
