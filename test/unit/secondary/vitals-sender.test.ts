// The vitals sender over a real outbox file and a real link (ARCHITECTURE.md, "Vitals"): after
// `welcome` the agent continues from max(its own last seq, lastSeq) + 1, so a node whose outbox
// was lost never has fresh samples dropped, even when it was restarted before it ever connected.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import { silentLogger } from '../../../src/common/logger.js';
import type { VitalsSample } from '../../../src/node/vitals-reader.js';
import type { VitalsPayload } from '../../../src/protocol/messages.js';
import { Outbox } from '../../../src/secondary/outbox.js';
import { VitalsSender } from '../../../src/secondary/vitals-sender.js';
import { tempDir, waitUntil } from '../../helpers/cluster.js';
import { connectionPair } from '../../helpers/socket-pair.js';

/** One life of the agent's sender: takes exactly `samples` readings (ts = firstTs, firstTs + 1, ...). */
async function senderTaking(outbox: Outbox, firstTs: number, samples: number): Promise<VitalsSender> {
  let taken = 0;
  const read = async (): Promise<VitalsSample> => {
    if (taken >= samples) throw new Error('no more readings in this test');
    return {
      ...{ ts: firstTs + taken++, cpuPercent: 1, ramAvailableBytes: 1, swapFreeBytes: 0 },
      ...{ load1: 0, load5: 0, load15: 0, uptimeS: 1, disks: [], nets: [] },
    };
  };
  const sender = new VitalsSender({
    outbox,
    source: { read },
    periodMs: 5,
    inFlight: 100,
    wallClock: Date.now,
    logger: silentLogger,
    onSample: () => undefined,
    onAck: () => undefined,
  });
  const before = outbox.lastSeq;
  sender.start();
  await waitUntil(() => outbox.lastSeq === before + samples, 5000, `${samples} samples in the outbox`);
  sender.stop();
  return sender;
}

function outboxIn(t: TestContext, dir: string): Outbox {
  const outbox = new Outbox(join(dir, 'outbox.jsonl'), { logger: silentLogger });
  t.after(() => outbox.close());
  return outbox;
}

it('samples taken offline before a restart are renumbered past the lastSeq of a primary that has more, none dropped', async (t) => {
  // The outbox was lost (deleted, an old backup put back) while the primary stored seq 1..500.
  const dir = tempDir(t);
  // 1) Started while the primary is unreachable: samples 1..3. 2) Restarted before it ever connected.
  const first = outboxIn(t, dir);
  await senderTaking(first, 1, 3);
  first.close();
  // 3) The new process takes two more, then the primary welcomes it with lastSeq 500.
  const outbox = outboxIn(t, dir);
  const sender = await senderTaking(outbox, 4, 2);
  const { a, b, cleanup } = await connectionPair();
  t.after(cleanup);
  const received: VitalsPayload[] = [];
  b.on('message', (m) => {
    if (m.t === 'vitals') received.push(m.p as VitalsPayload);
  });
  sender.attach(a, 500);
  await waitUntil(() => received.at(-1)?.seq === outbox.lastSeq, 5000, 'the outbox sent to its last seq');
  assert.deepEqual(
    received.map((s) => [s.seq, s.ts]),
    [
      [501, 1],
      [502, 2],
      [503, 3],
      [504, 4],
      [505, 5],
    ],
    'every sample, in the order taken, numbered past the primary',
  );
  assert.equal(outbox.dropped, 0);
});
