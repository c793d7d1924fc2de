// TLS on the cluster port (issue "Nobody in where they don't belong"), against real processes: a
// wiretap between a node and its primary sees neither the cluster token nor the node secret (and,
// with --no-tls, does see the secret: the tap works); a wrong pin is refused naming both
// fingerprints; plaintext gets ERR_TLS_REQUIRED; a CA makes a primary trusted; mutual TLS keeps out
// a node without a certificate the cluster CA signed; trust on first use pins, then refuses a
// changed certificate, and pins no peer that has not proven the cluster's credentials; a restarted
// primary resumes the nodes' TLS sessions.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { generate } from 'selfsigned';
import { OPENING_MAGIC } from '../../src/protocol/index.js';
import {
  exitOf,
  fingerprintOf,
  getNodes,
  type PrimaryProcess,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startImpostorPrimary } from '../helpers/impostor-primary.js';
import { RawPeer } from '../helpers/raw-peer.js';

async function metric(primary: PrimaryProcess, name: string): Promise<number> {
  const body = await (await fetch(`${primary.api}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

async function onlineNames(primary: PrimaryProcess): Promise<string[]> {
  return (await getNodes(primary.api)).filter((n) => n.state === 'online').map((n) => n.name);
}

/** The secret a node holds for its primary (DATA/node-secrets.json). */
function nodeSecretOf(dataDir: string): string {
  const entries = JSON.parse(readFileSync(join(dataDir, 'node-secrets.json'), 'utf8')) as Record<
    string,
    { secret: string }
  >;
  const [entry] = Object.values(entries);
  assert.ok(entry, 'the node holds a secret');
  return entry.secret;
}

/** A CA, and a certificate it signed (for a node or a primary), as files in `dir`. */
async function makeCa(dir: string, name: string) {
  const notBeforeDate = new Date(Date.now() - 3600_000);
  const ca = await generate([{ name: 'commonName', value: `${name} CA` }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const caFile = join(dir, `${name}-ca.pem`);
  writeFileSync(caFile, ca.cert);
  const issue = async (cn: string) => {
    const leaf = await generate([{ name: 'commonName', value: cn }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate,
      ca: { key: ca.private, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyAgreement: true },
        { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      ],
    });
    const certFile = join(dir, `${cn}.pem`);
    const keyFile = join(dir, `${cn}.key`);
    writeFileSync(certFile, leaf.cert);
    writeFileSync(keyFile, leaf.private);
    return { certFile, keyFile };
  };
  return { caFile, issue };
}

/** A node joined through a capturing proxy: the bytes each way, the token and the node's secret. */
async function tappedJoin(t: TestContext, primaryArgs: string[]) {
  const dir = tempDir(t);
  const primary = await startPrimary(t, { dataDir: join(dir, 'primary'), args: primaryArgs });
  const proxy = new FaultProxy({ target: { host: '127.0.0.1', port: primary.port }, capture: true });
  const proxyPort = await proxy.start();
  t.after(() => proxy.close());
  const nodeDir = join(dir, 'node');
  startSecondary(t, { port: proxyPort, dataDir: primary.dataDir }, { dataDir: nodeDir, name: 'tapped' });
  await waitUntil(async () => (await getNodes(primary.api))[0]?.vitals, 15_000, 'vitals through the proxy');
  const captured = proxy.captured as NonNullable<FaultProxy['captured']>;
  return {
    up: Buffer.concat(captured.up),
    down: Buffer.concat(captured.down),
    token: readFileSync(join(primary.dataDir, 'token'), 'utf8').trim(),
    secret: nodeSecretOf(nodeDir),
  };
}

describe('TLS on the cluster port', () => {
  it('the primary makes an ECDSA P-256 key and certificate (0600) and prints the join line with its fingerprint', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    const tlsDir = join(primary.dataDir, 'tls');
    for (const file of ['cert.pem', 'key.pem', 'ticket-keys'])
      assert.equal(statSync(join(tlsDir, file)).mode & 0o777, 0o600, file);
    assert.equal(statSync(tlsDir).mode & 0o777, 0o700);
    const cert = new X509Certificate(readFileSync(join(tlsDir, 'cert.pem')));
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const fingerprint = fingerprintOf(primary.dataDir) as string;
    assert.match(fingerprint, /^sha256:[0-9a-f]{64}$/);
    await waitUntil(
      () =>
        primary.child.stderr
          .join('')
          .includes(`--token-file <a copy of ${join(primary.dataDir, 'token')}> --primary-fingerprint ${fingerprint}`),
      5000,
      'the join line',
    );
  });

  it('a capture of a join holds neither the token nor the node secret (and with --no-tls, holds the secret)', async (t) => {
    const tapped = await tappedJoin(t, []);
    assert.equal(tapped.up[0], 0x16, 'the node opens with a TLS ClientHello');
    const wire = Buffer.concat([tapped.up, tapped.down]);
    assert.ok(!wire.includes(OPENING_MAGIC), 'the picluster magic travels inside TLS');
    for (const [what, value] of [
      ['token', tapped.token],
      ['node secret', tapped.secret],
    ] as const) {
      assert.ok(!wire.includes(value), `the ${what} is not on the wire`);
      assert.ok(!wire.includes(Buffer.from(value, 'hex')), `the ${what} is not on the wire as bytes`);
    }

    // The same tap on a plaintext cluster sees the magic and the secret in the first welcome.
    const plain = await tappedJoin(t, ['--no-tls']);
    assert.ok(plain.up.subarray(0, OPENING_MAGIC.length).equals(OPENING_MAGIC));
    assert.ok(plain.down.includes(plain.secret), 'without TLS the node secret crosses the wire');
    assert.ok(!plain.up.includes(plain.token), 'the token itself never travels (a proof does)');
  });

  it('a wrong pin is refused naming both fingerprints; plaintext gets ERR_TLS_REQUIRED', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    const real = fingerprintOf(primary.dataDir) as string;
    const wrong = `sha256:${'ab'.repeat(32)}`;
    const pinned = startSecondary(t, primary, {
      dataDir: join(dir, 'pinned'),
      name: 'pinned-wrong',
      args: ['--primary-fingerprint', wrong],
    });
    const plain = startSecondary(t, primary, { dataDir: join(dir, 'plain'), name: 'plain', args: ['--no-tls'] });
    await waitUntil(
      () => pinned.stderr.join('').includes(`presented certificate ${real}, but this node pins ${wrong}`),
      15_000,
      'the refusal naming both fingerprints',
    );
    await waitUntil(() => plain.stderr.join('').includes('ERR_TLS_REQUIRED'), 15_000, 'ERR_TLS_REQUIRED logged');
    assert.ok(pinned.alive && plain.alive, 'both keep retrying');
    assert.deepEqual(await getNodes(primary.api), [], 'neither joined');

    // On the wire: one error frame, then the close.
    const peer = await RawPeer.connect(primary.port);
    t.after(() => peer.destroy());
    await peer.write(OPENING_MAGIC);
    const refusal = await peer.waitFor((m) => m.t === 'error', 5000, 'the error frame');
    assert.equal(refusal.p?.code, 'ERR_TLS_REQUIRED');
    await waitUntil(() => peer.closed, 5000, 'closed after the refusal');
  });

  it("a CA given to the node makes a primary trusted; another CA's certificate is refused", async (t) => {
    const dir = tempDir(t);
    const cluster = await makeCa(dir, 'cluster');
    const other = await makeCa(dir, 'other');
    const served = await cluster.issue('primary-1');
    const primary = await startPrimary(t, {
      dataDir: join(dir, 'primary'),
      args: ['--tls-cert-file', served.certFile, '--tls-key-file', served.keyFile],
    });
    startSecondary(t, primary, { dataDir: join(dir, 'a'), name: 'trusts-ca', args: ['--tls-ca-file', cluster.caFile] });
    const refused = startSecondary(t, primary, {
      dataDir: join(dir, 'b'),
      name: 'other-ca',
      args: ['--tls-ca-file', other.caFile],
    });
    await waitUntil(async () => (await onlineNames(primary)).includes('trusts-ca'), 15_000, 'online by the CA');
    await waitUntil(
      () => refused.stderr.join('').includes('which the CA of tlsCaFile did not sign'),
      15_000,
      'the refusal',
    );
    assert.deepEqual(await onlineNames(primary), ['trusts-ca']);
  });

  it('mutual TLS keeps out a node without a certificate the cluster CA signed', async (t) => {
    const dir = tempDir(t);
    const cluster = await makeCa(dir, 'cluster');
    const rogue = await makeCa(dir, 'rogue');
    const primaryArgs = ['--tls-client-ca-file', cluster.caFile];
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary'), args: primaryArgs });
    const good = await cluster.issue('node-good');
    const forged = await rogue.issue('node-forged');
    startSecondary(t, primary, {
      dataDir: join(dir, 'good'),
      name: 'good',
      args: ['--tls-cert-file', good.certFile, '--tls-key-file', good.keyFile],
    });
    const bare = startSecondary(t, primary, { dataDir: join(dir, 'bare'), name: 'bare' });
    const wrongCa = startSecondary(t, primary, {
      dataDir: join(dir, 'forged'),
      name: 'forged',
      args: ['--tls-cert-file', forged.certFile, '--tls-key-file', forged.keyFile],
    });
    await waitUntil(async () => (await onlineNames(primary)).includes('good'), 15_000, 'the good node online');
    // Each refused node has tried more than once (it keeps retrying), and never got in.
    await waitUntil(async () => (await metric(primary, 'picluster_tls_failures_total')) >= 4, 20_000, 'refusals');
    assert.deepEqual(await onlineNames(primary), ['good']);
    assert.equal((await getNodes(primary.api)).length, 1, 'no record of the refused nodes');
    assert.ok(bare.alive && wrongCa.alive);
    for (const refused of [bare, wrongCa])
      assert.match(refused.stderr.join(''), /primary refused this node's certificate: .*cluster CA/);

    // A restart: the good node resumes its session, and its certificate still counts.
    primary.child.kill('SIGKILL');
    await exitOf(primary.child);
    const again = await startPrimary(t, { dataDir: primary.dataDir, port: primary.port, args: primaryArgs });
    await waitUntil(async () => (await onlineNames(again)).includes('good'), 15_000, 'the good node back');
    assert.ok((await metric(again, 'picluster_tls_resumed_total')) >= 1, 'resumed');
    assert.deepEqual(await onlineNames(again), ['good']);
  });

  it('trust on first use pins the certificate, then refuses a primary whose certificate changed', async (t) => {
    const dir = tempDir(t);
    const primaryDir = join(dir, 'primary');
    const first = await startPrimary(t, { dataDir: primaryDir });
    const fingerprint = fingerprintOf(primaryDir) as string;
    const nodeDir = join(dir, 'node');
    const node = startSecondary(t, first, { dataDir: nodeDir, name: 'tofu', args: ['--trust-first-use'] });
    await waitUntil(async () => (await onlineNames(first)).includes('tofu'), 15_000, 'online on first use');
    assert.equal(readFileSync(join(nodeDir, 'primary-fingerprint'), 'utf8').trim(), fingerprint);

    // The primary comes back with a new certificate (its tls dir lost): the node does not follow.
    first.child.kill('SIGKILL');
    await exitOf(first.child);
    rmSync(join(primaryDir, 'tls'), { recursive: true });
    const second = await startPrimary(t, { dataDir: primaryDir, port: first.port });
    const changed = fingerprintOf(primaryDir) as string;
    assert.notEqual(changed, fingerprint);
    await waitUntil(
      () => node.stderr.join('').includes(`presented certificate ${changed}, but this node pins ${fingerprint}`),
      15_000,
      'the refusal naming both fingerprints',
    );
    assert.ok(!(await onlineNames(second)).includes('tofu'));
  });

  for (const mode of ['silent', 'wrong proof'] as const) {
    it(`trust on first use pins nothing from a peer that does not prove the cluster's credentials (${mode}), then pins the real primary`, async (t) => {
      const dir = tempDir(t);
      const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
      const impostor = await startImpostorPrimary(t, mode);
      const nodeDir = join(dir, 'node');
      // The impostor is tried first: a wrong address, another cluster's primary.
      startSecondary(t, primary, {
        dataDir: nodeDir,
        name: 'tofu',
        args: [
          '--trust-first-use',
          '--handshake-timeout-ms',
          '1000',
          '--primary',
          `127.0.0.1:${impostor.port},127.0.0.1:${primary.port}`,
        ],
      });
      // The primary lists the node online before the node has checked its proof and pinned it.
      const pin = join(nodeDir, 'primary-fingerprint');
      await waitUntil(
        async () => existsSync(pin) && (await onlineNames(primary)).includes('tofu'),
        20_000,
        'online with the real primary, and pinned',
      );
      assert.ok(impostor.connections >= 1, 'the impostor was dialled first');
      assert.equal(readFileSync(pin, 'utf8').trim(), fingerprintOf(primary.dataDir));
    });
  }

  it('nodes resume their TLS sessions after a primary restart (no full handshake)', async (t) => {
    const dir = tempDir(t);
    const primaryDir = join(dir, 'primary');
    const first = await startPrimary(t, { dataDir: primaryDir });
    for (const name of ['r1', 'r2', 'r3']) startSecondary(t, first, { dataDir: join(dir, name), name });
    await waitUntil(async () => (await onlineNames(first)).length === 3, 15_000, 'three online');
    assert.equal(await metric(first, 'picluster_tls_handshakes_total'), 3);
    first.child.kill('SIGKILL');
    await exitOf(first.child);
    const second = await startPrimary(t, { dataDir: primaryDir, port: first.port });
    await waitUntil(async () => (await onlineNames(second)).length === 3, 15_000, 'three back');
    // The ticket keys live in DATA/tls/ across the restart: the sessions the nodes hold still open.
    assert.equal(await metric(second, 'picluster_tls_resumed_total'), 3);
    assert.equal(await metric(second, 'picluster_tls_failures_total'), 0);
  });
});
