// The outbox under damage: a record damaged anywhere costs that record only; a crash at any step
// of a compaction leaves a readable outbox with every record; a full disk keeps new samples in
// memory, keeps what the file had, and puts everything back on disk once there is room.
import assert from 'node:assert/strict';
import {
  closeSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { VitalsPayload } from '../../../src/protocol/messages.js';
import { Outbox, type OutboxFs } from '../../../src/secondary/outbox.js';

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

/** An outbox file of 20 samples written one record each (no compaction since its start). */
function twentySamples(file: string): void {
  const o = new Outbox(file);
  for (let i = 1; i <= 20; i++) o.append(reading(i));
  o.close();
}

class Crash extends Error {}

/** File operations that crash (throw) at operation `at` of those counted, after half a write if it is one. */
function crashingFs(at: number): OutboxFs & { ops: string[] } {
  const ops: string[] = [];
  const step = (name: string) => {
    ops.push(name);
    return ops.length === at;
  };
  return {
    ops,
    openSync: (path, flags, mode) => {
      if (step(`open ${String(flags)}`)) throw new Crash('open');
      return openSync(path, flags, mode);
    },
    writeSync: (fd, text) => {
      if (step('write')) {
        writeSync(fd, text.slice(0, Math.floor(text.length / 2))); // half the bytes reach the disk
        throw new Crash('write');
      }
      return writeSync(fd, text);
    },
    fsyncSync: (fd) => {
      if (step('fsync')) throw new Crash('fsync');
      fsyncSync(fd);
    },
    closeSync: (fd) => {
      if (step('close')) throw new Crash('close');
      closeSync(fd);
    },
    renameSync: (from, to) => {
      if (step('rename')) throw new Crash('rename');
      renameSync(from, to);
    },
    unlinkSync: (path) => {
      if (step('unlink')) throw new Crash('unlink');
      unlinkSync(path);
    },
  };
}

/** File operations whose writes fail with ENOSPC (after `bytesLeft` bytes) while `full()` says so. */
function fullDiskFs(full: () => boolean): OutboxFs {
  const noSpace = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  return {
    openSync,
    writeSync: (fd, text) => {
      if (!full()) return writeSync(fd, text);
      // Part of the record reaches the disk, then the disk is full: a torn record.
      writeSync(fd, text.slice(0, 7));
      throw noSpace();
    },
    fsyncSync,
    closeSync,
    renameSync,
    unlinkSync,
  };
}

describe('Outbox recovery', () => {
  it('a record damaged in the middle costs that record only', (t) => {
    const file = outboxFile(t);
    twentySamples(file);
    const lines = readFileSync(file, 'utf8').split('\n');
    // Line 0 is the header of the compaction at start; samples 1..20 follow. Damage three of them
    // three ways: a flipped digit (the checksum catches it), garbage, and a line cut short.
    lines[5] = (lines[5] as string).replace('"cpuPercent":1', '"cpuPercent":7');
    lines[10] = 'xx\u0000garbage';
    lines[15] = (lines[15] as string).slice(0, 30);
    writeFileSync(file, lines.join('\n'));
    const warnings: object[] = [];
    const o = new Outbox(file, { logger: { debug() {}, info() {}, warn: (f) => warnings.push(f), error() {} } });
    t.after(() => o.close());
    assert.deepEqual(
      seqs(o),
      Array.from({ length: 20 }, (_, i) => i + 1).filter((s) => ![5, 10, 15].includes(s)),
    );
    assert.equal(o.damaged, 3);
    assert.equal(warnings.length, 1);
    assert.equal(o.append(reading(21)).seq, 21, 'numbering goes on past the highest seq kept');
  });

  it('reads an outbox of an older picluster (records without checksums)', (t) => {
    const file = outboxFile(t);
    writeFileSync(
      file,
      [
        JSON.stringify({ h: { lastSeq: 4, dropped: 1 } }),
        JSON.stringify({ s: { ...reading(5), seq: 5 } }),
        JSON.stringify({ s: { ...reading(6), seq: 6 } }),
        JSON.stringify({ a: 5 }),
        '',
      ].join('\n'),
    );
    const o = new Outbox(file);
    t.after(() => o.close());
    assert.deepEqual([seqs(o), o.lastSeq, o.dropped, o.damaged], [[6], 6, 1, 0]);
  });

  it('a crash at any step of a compaction leaves every record readable', (t) => {
    // Count the file operations of one compaction (at start, over an existing file).
    const file = outboxFile(t);
    twentySamples(file);
    const counting = crashingFs(Number.POSITIVE_INFINITY);
    const counted = new Outbox(file, { fs: counting });
    const steps = counting.ops.length;
    counted.close();
    assert.ok(steps >= 6, `a compaction and reopen: ${counting.ops.join(', ')}`);
    for (let at = 1; at <= steps; at++) {
      const dir = outboxFile(t);
      twentySamples(dir);
      const crashing = crashingFs(at);
      assert.throws(() => new Outbox(dir, { fs: crashing }), Crash, `a crash at step ${at}`);
      const after = new Outbox(dir);
      assert.deepEqual(
        seqs(after),
        Array.from({ length: 20 }, (_, i) => i + 1),
        `every record after a crash at step ${at} (${crashing.ops.at(-1)})`,
      );
      assert.equal(after.damaged, 0);
      after.close();
    }
  });

  it('a full disk: new samples stay in memory, the file keeps what it had, all on disk once there is room', (t) => {
    const file = outboxFile(t);
    let full = false;
    const errors: string[] = [];
    const infos: string[] = [];
    const logger = {
      debug() {},
      warn() {},
      info: (_f: object, m: string) => infos.push(m),
      error: (_f: object, m: string) => errors.push(m),
    };
    const o = new Outbox(file, { fs: fullDiskFs(() => full), logger });
    for (let i = 1; i <= 5; i++) o.append(reading(i));
    full = true;
    for (let i = 6; i <= 12; i++) o.append(reading(i));
    o.ack(2);
    assert.equal(o.behind, true);
    assert.deepEqual(seqs(o), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'every sample in memory');
    assert.equal(errors.length, 1, 'said once');
    // A crash now: the file still has every sample it had before the disk filled.
    const crashed = new Outbox(file, { fs: fullDiskFs(() => true) });
    assert.deepEqual(seqs(crashed), [1, 2, 3, 4, 5]);
    crashed.close();
    // Room again: the next append puts everything on disk.
    full = false;
    o.append(reading(13));
    assert.equal(o.behind, false);
    assert.equal(infos.length, 1);
    o.close();
    const reopened = new Outbox(file);
    t.after(() => reopened.close());
    assert.deepEqual(seqs(reopened), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    assert.equal(reopened.damaged, 0);
  });
});
