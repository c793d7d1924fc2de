// Two ends of a real TCP connection on 127.0.0.1, for tests of the connection layer.
import { once } from 'node:events';
import net from 'node:net';
import { Connection } from '../../src/connection/connection.js';
import type { ConnectionOptions } from '../../src/connection/connection-options.js';

export async function socketPair(): Promise<{ a: net.Socket; b: net.Socket }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const a = net.connect(port, '127.0.0.1');
  await once(a, 'connect');
  const [b] = await accepted;
  server.close();
  return { a, b };
}

/** A Connection on each end. */
export async function connectionPair(
  aOptions: ConnectionOptions = {},
  bOptions: ConnectionOptions = {},
): Promise<{ a: Connection; b: Connection; cleanup(): void }> {
  const { a, b } = await socketPair();
  const ca = new Connection(a, aOptions);
  const cb = new Connection(b, bOptions);
  return {
    a: ca,
    b: cb,
    cleanup() {
      ca.destroy();
      cb.destroy();
    },
  };
}

/** Resolves with the value `fn` returns once it is truthy; rejects after `timeoutMs`. */
export async function waitFor<T>(fn: () => T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
