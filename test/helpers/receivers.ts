// Alert receivers the alert tests start on 127.0.0.1: an HTTP server taking webhook and ntfy
// posts (it can answer with an error, or not at all, for a while), and an SMTP server with
// STARTTLS and a login (npm smtp-server) that keeps every mail. Both close when the test ends.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { generate } from 'selfsigned';
import { SMTPServer } from 'smtp-server';
import { getNodes, type PrimaryProcess, startPrimary, startSecondary, waitUntil } from './cluster.js';

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
  /** performance.now() when it arrived. */
  at: number;
}

/** How to answer the Nth request (0-based): `ok` (200), `fail` (503), or `hang` (no answer). */
export type Answer = 'ok' | 'fail' | 'hang';

export async function startHttpReceiver(
  t: TestContext,
  answer: (n: number) => Answer = () => 'ok',
): Promise<{ url: string; received: Received[]; tries: () => number }> {
  const received: Received[] = [];
  let tries = 0;
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const how = answer(tries++);
      if (how === 'hang') {
        hanging.push(res);
        return;
      }
      if (how === 'fail') {
        res.writeHead(503).end('down for maintenance');
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({ path: req.url ?? '', headers: req.headers, raw, body: JSON.parse(raw), at: performance.now() });
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, tries: () => tries };
}

export interface Mail {
  from: string;
  to: string[];
  raw: string;
  /** Whether the session had switched to TLS (STARTTLS) when the mail was sent. */
  secure: boolean;
  user: string | undefined;
}

/**
 * An SMTP server on 127.0.0.1 that offers STARTTLS with a certificate for 127.0.0.1 (its PEM is
 * written to `caFile` for the client to trust) and takes a login only over TLS.
 */
export async function startSmtpServer(
  t: TestContext,
  dir: string,
  login: { user: string; pass: string },
): Promise<{ port: number; caFile: string; mails: Mail[] }> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  const caFile = join(dir, 'smtp-ca.pem');
  writeFileSync(caFile, pems.cert);
  const mails: Mail[] = [];
  const server = new SMTPServer({
    secure: false,
    key: pems.private,
    cert: pems.cert,
    allowInsecureAuth: false,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === login.user && auth.password === login.pass) callback(null, { user: auth.username });
      else callback(new Error('bad login'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          user: session.user as string | undefined,
        });
        callback();
      });
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.server.address() as AddressInfo).port, caFile, mails };
}

/** A secret in a file of its own (mode 0600), as a config names it. */
export function secretFile(dir: string, name: string, secret: string): string {
  const file = join(dir, name);
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return file;
}

/**
 * A primary whose config file has `rules` (TOML lines of `[[alerts.rules]]` tables), a 100 ms
 * alert tick and a webhook channel `hook` to `hookUrl`; and one secondary, `alpha`, online.
 */
export async function alertCluster(
  t: TestContext,
  dir: string,
  options: { rules: readonly string[]; hookUrl: string },
): Promise<{ primary: PrimaryProcess; nodeId: string }> {
  const configFile = join(dir, 'picluster.toml');
  const lines = ['[alerts]', 'tick = "100ms"', ...options.rules, '[alerts.channels.hook]', 'type = "webhook"'];
  writeFileSync(configFile, [...lines, `url = "${options.hookUrl}"`, ''].join('\n'));
  const primary = await startPrimary(t, { dataDir: join(dir, 'primary'), args: ['--config', configFile] });
  startSecondary(t, primary, { dataDir: join(dir, 'alpha'), name: 'alpha' });
  const nodeId = await waitUntil(
    async () => (await getNodes(primary.api)).find((n) => n.name === 'alpha' && n.state === 'online')?.id,
    20_000,
    'alpha online',
  );
  return { primary, nodeId };
}
