// A channel's settings and its HTTP sends against what a receiver may do: a token that no header
// can carry is refused at start without being quoted; an answer is read only as far as an error
// needs (a receiver sending gigabytes is cut off).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { it } from 'node:test';
import { channelConfigOf, channelOf, MAX_ANSWER_BYTES } from '../../../src/alerts/channels.js';
import type { AlertMessage } from '../../../src/alerts/message.js';
import { tempDir } from '../../helpers/cluster.js';

const MESSAGE: AlertMessage = { type: 'test', title: 't', text: 'x', severity: 'warning', alerts: [], sentAt: 1 };

it('refuses a token a header cannot carry, and does not quote it', (t) => {
  // Found by review: a token file with a line inside passed, and every send failed with fetch's
  // error, which quotes the header (token and all) into the log and the channels API.
  const file = join(tempDir(t), 'token');
  writeFileSync(file, 'sekrit-part-one\nsekrit-part-two\n');
  assert.throws(
    () => channelConfigOf('phone', { type: 'ntfy', url: 'https://ntfy.example', topic: 'a', tokenFile: file }),
    (err: Error) => /a character an HTTP header cannot carry/.test(err.message) && !err.message.includes('sekrit'),
  );
  writeFileSync(file, 'sekrit\n');
  assert.equal(
    channelConfigOf('phone', { type: 'ntfy', url: 'https://ntfy.example', topic: 'a', tokenFile: file }).token,
    'sekrit',
  );
});

it('reads at most MAX_ANSWER_BYTES of an answer: a receiver sending without end is cut off', {
  timeout: 30_000,
}, async (t) => {
  // Found by review: the whole answer was read into memory for up to the channel's timeout.
  const total = 64 * 1024 * 1024;
  let written = 0;
  let closed!: () => void;
  const gone = new Promise<void>((resolve) => {
    closed = resolve;
  });
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(500, { 'Content-Type': 'text/plain' });
    const chunk = Buffer.alloc(64 * 1024, 'e');
    const more = () => {
      while (written < total) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    res.on('close', closed);
    more();
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const channel = channelOf('hook', channelConfigOf('hook', { type: 'webhook', url: `http://127.0.0.1:${port}/x` }));
  await assert.rejects(channel.send(MESSAGE, AbortSignal.timeout(30_000)), /^Error: HTTP 500: e{200}$/);
  await gone;
  assert.ok(
    written < total / 2,
    `${written} bytes sent of ${total}: the answer was read on (MAX_ANSWER_BYTES ${MAX_ANSWER_BYTES})`,
  );
});
