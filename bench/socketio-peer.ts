// The Socket.IO peer of the protocol bench (bench/run.ts): `socket.io` 4 on the receiver,
// `socket.io-client` 4 on the sender, websocket transport only (no long-polling, no upgrade).
// One-way messages are `emit(type, payload)` with the same payload objects as the other peers;
// requests are emits with an acknowledgement callback, which the receiver calls with the payload.

import { once } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io, type Socket } from 'socket.io-client';

export const SOCKETIO_RR_EVENT = 'rr';

/** Listens on 127.0.0.1:0; `onSocket` gets each connected client. */
export async function listenSocketIo(
  onSocket: (socket: ServerSocket) => void,
): Promise<{ port: number; http: HttpServer; io: Server }> {
  const http = createServer();
  const server = new Server(http, { transports: ['websocket'], serveClient: false });
  server.on('connection', (socket) => {
    socket.on(SOCKETIO_RR_EVENT, (payload: unknown, ack: (reply: unknown) => void) => ack(payload));
    onSocket(socket);
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const address = http.address();
  if (address === null || typeof address === 'string') throw new Error('socket.io: no port');
  return { port: address.port, http, io: server };
}

export async function dialSocketIo(port: number): Promise<Socket> {
  const socket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/** Packets emitted per batch before the sender waits for the client's 'drain'. */
const SOCKETIO_BATCH = 256;
/** Bytes the TCP socket under the websocket may hold before the sender waits for its 'drain'. */
const SOCKETIO_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

interface EngineInternals {
  writeBuffer: unknown[];
  transport: { ws?: { _socket?: import('node:net').Socket } };
  once(event: 'drain', listener: () => void): void;
}

/**
 * Emits `count` messages as fast as the client lets them out: after each batch it waits for the
 * engine's 'drain' (its write buffer handed to the websocket), and for the TCP socket's 'drain'
 * while more than 8 MiB wait in it (socket.io-client has no backpressure of its own).
 */
export async function sendSocketIo(
  socket: Socket,
  count: number,
  make: (i: number) => { t: string; p: unknown },
): Promise<void> {
  const engine = socket.io.engine as unknown as EngineInternals;
  for (let i = 0; i < count; ) {
    const end = Math.min(count, i + SOCKETIO_BATCH);
    for (; i < end; i++) {
      const { t, p } = make(i);
      socket.emit(t, p);
    }
    if (engine.writeBuffer.length > 0) await new Promise<void>((resolve) => engine.once('drain', resolve));
    const tcp = engine.transport.ws?._socket;
    if (tcp !== undefined && tcp.writableLength > SOCKETIO_MAX_BUFFERED_BYTES) await once(tcp, 'drain');
  }
}

export function requestSocketIo(socket: Socket, payload: unknown): Promise<unknown> {
  return socket.timeout(10_000).emitWithAck(SOCKETIO_RR_EVENT, payload);
}

/**
 * Disconnects once the receiver has handled everything emitted before: one acknowledged emit
 * first, since packets still on their way when the client disconnects may be dropped.
 */
export async function closeSocketIo(socket: Socket): Promise<void> {
  await socket.timeout(30_000).emitWithAck(SOCKETIO_RR_EVENT, null);
  socket.disconnect();
}
