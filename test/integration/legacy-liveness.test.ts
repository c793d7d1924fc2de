// Liveness of legacy nodes on an in-process Primary, whose silence limit a test can shorten: a
// silent node is lost and its connection closed, and after a restart of the primary the node, its
// samples and its uuid are still there and its numbering continues.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Primary } from '../../src/primary/primary.js';
import { FAST_COMMIT, tempDir, waitUntil } from '../helpers/cluster.js';
import { RawLegacyClient } from '../helpers/legacy-client.js';

describe('legacy nodes on an in-process primary', () => {
  it('loses a silent node after legacySilenceMs, and keeps it across a restart of the primary', async (t) => {
    const dataDir = join(tempDir(t), 'primary');
    const options = { ...FAST_COMMIT, dataDir, port: 0, bind: '127.0.0.1', legacy: true, legacySilenceMs: 400 };
    const first = new Primary(options);
    await first.start();
    t.after(() => first.stop());
    const client = new RawLegacyClient(first.port);
    t.after(() => client.socket.destroy());
    const uuid = (await client.ask('uuid')).payload as string;
    client.send('node_baseinfo', { hostname: 'pi-quiet', ram: 1000, swap: 0 });
    client.send('vitals', { cpu_percentage: 5, cpu_frequency: null, ram_free: 500, swap_free: 0 });
    // The last message before the silence.
    const silentSince = Date.now();
    client.send('vitals', { cpu_percentage: 6, cpu_frequency: 700, ram_free: 400, swap_free: 0 });
    // Shown at receipt, stored within the commit window.
    await waitUntil(() => first.node(uuid)?.vitals?.seq === 2, 5_000, 'two samples shown');
    await waitUntil(async () => (await first.store.storedSeqs(uuid)).length === 2, 5_000, 'two samples stored');
    assert.deepEqual(await first.store.storedSeqs(uuid), [1, 2]);

    // Silence: lost after 400 ms, the connection closed.
    await waitUntil(() => first.node(uuid)?.state === 'lost', 5_000, 'lost after silence');
    assert.ok(Date.now() - silentSince >= 300);
    await client.closed;
    // The lost event is written by the batched node writer, a few milliseconds after the state.
    const lostEvent = await waitUntil(
      async () => (await first.store.events({ node: uuid })).find((e) => e.type === 'lost'),
      5_000,
      'the lost event stored',
    );
    assert.equal(lostEvent.code, 'ERR_PEER_TIMEOUT');
    await first.stop();

    // A new primary on the same data: the node, its samples (absent fields still absent) and its uuid.
    const second = new Primary(options);
    await second.start();
    t.after(() => second.stop());
    const stored = second.node(uuid);
    assert.equal(stored?.legacy, true);
    assert.equal(stored?.name, 'pi-quiet');
    assert.deepEqual(
      { ...stored?.vitals, ts: 0, receivedAt: 0 },
      { seq: 2, ts: 0, receivedAt: 0, cpuPercent: 6, cpuMhz: 700, ramAvailableBytes: 400, swapFreeBytes: 0 },
    );
    const again = new RawLegacyClient(second.port);
    t.after(() => again.socket.destroy());
    assert.equal((await again.ask('uuid')).payload, uuid);
    again.send('node_baseinfo', { hostname: 'pi-quiet' });
    again.send('vitals', { cpu_percentage: 7, ram_free: 300, swap_free: 0 });
    await waitUntil(() => second.node(uuid)?.vitals?.seq === 3, 5_000, 'numbering continues after the restart');
    assert.equal(second.node(uuid)?.state, 'online');
    await assert.rejects(second.request(uuid, 'x-anything'), /legacy node/);
  });
});
