// Raw peers of the original protocol for the legacy tests: one connection that writes given bytes
// and reads until the primary closes it, and a bare client that sends one message per call and
// reads answers up to "\r".
import net from 'node:net';
import { legacyMessage } from '../fixtures/legacy-node.js';

export /** Sends raw bytes from a fresh connection; resolves with what came back once the primary closed it. */
function rawSession(port: number, bytes: Buffer | string): Promise<{ received: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let received = '';
    socket.on('data', (d) => (received += d.toString()));
    socket.on('error', () => undefined); // a reset after the primary closed: 'close' follows and resolves
    socket.on('close', () => resolve({ received, closedAfterMs: Date.now() - started }));
    socket.setTimeout(15_000, () => reject(new Error('the primary did not close the connection')));
  });
}

export /** A bare legacy client in this process: one message per call, answers read up to "\r". */
class RawLegacyClient {
  readonly socket: net.Socket;
  #received = '';
  #waiting: Array<(message: { type: string; payload: unknown }) => void> = [];
  readonly closed: Promise<void>;

  constructor(port: number, localAddress?: string) {
    this.socket = net.connect({ port, host: '127.0.0.1', localAddress });
    this.socket.on('data', (d) => {
      this.#received += d.toString();
      for (let end = this.#received.indexOf('\r'); end !== -1; end = this.#received.indexOf('\r')) {
        this.#waiting.shift()?.(JSON.parse(this.#received.slice(0, end)));
        this.#received = this.#received.slice(end + 1);
      }
    });
    this.socket.on('error', () => undefined); // 'close' follows
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  send(type: string, payload: unknown): void {
    this.socket.write(legacyMessage(type, payload));
  }

  ask(what: string): Promise<{ type: string; payload: unknown }> {
    const reply = new Promise<{ type: string; payload: unknown }>((resolve) => this.#waiting.push(resolve));
    this.send('info', what);
    return reply;
  }
}
