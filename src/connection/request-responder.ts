// The answering side of a link: a handler per request type (and one for the types without their
// own), each request answered once with its reply or an `error` reply. What a handler throws or
// rejects with becomes the error reply: a PiclusterError with its code, message and detail;
// anything else as ERR_INTERNAL, its details kept in our log (the peer is not trusted with our
// internals). An unknown type gets ERR_UNKNOWN_TYPE and the link stays up.

import type { Logger } from '../common/logger.js';
import { PiclusterError, RemoteError, wireErrorMessage } from '../protocol/errors.js';
import { type Message, replyTypeOf } from '../protocol/messages.js';
import type { Connection } from './connection.js';
import type { RequestHandler } from './connection-options.js';

export class RequestResponder {
  readonly #handlers = new Map<string, RequestHandler>();
  /** For request types with no handler of their own. */
  fallback: RequestHandler | undefined;
  readonly #send: (message: Message) => void;
  readonly #log: Logger;
  readonly #peer: string;

  /** `send` queues one message on the link (it may throw ERR_FRAME_TOO_LARGE). */
  constructor(send: (message: Message) => void, log: Logger, peer: string) {
    this.#send = send;
    this.#log = log;
    this.#peer = peer;
  }

  set(type: string, handler: RequestHandler): void {
    this.#handlers.set(type, handler);
  }

  /** Runs the handler of request `message` (its `id`) and sends its answer when it has one. */
  answer(message: Message, id: number, connection: Connection): void {
    const handler = this.#handlers.get(message.t) ?? this.fallback;
    if (handler === undefined) {
      this.#error(id, 'ERR_UNKNOWN_TYPE', `unknown request type "${message.t}"`);
      return;
    }
    let result: unknown;
    try {
      result = handler(message.p, message, connection);
    } catch (err) {
      this.#failure(id, message.t, err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.#reply(id, message.t, value),
        (err: unknown) => this.#failure(id, message.t, err),
      );
    } else {
      this.#reply(id, message.t, result);
    }
  }

  #reply(id: number, type: string, payload: unknown): void {
    try {
      this.#send({ t: replyTypeOf(type), re: id, p: payload ?? {} });
    } catch (err) {
      this.#failure(id, type, err);
    }
  }

  #failure(id: number, type: string, err: unknown): void {
    if (err instanceof PiclusterError) {
      this.#error(id, err instanceof RemoteError ? err.remoteCode : err.code, err.message, err.detail);
    } else {
      this.#log.warn({ err, peer: this.#peer, t: type }, 'request handler failed');
      this.#error(id, 'ERR_INTERNAL', `request "${type}" failed`);
    }
  }

  /** Never throws: an answer that cannot be sent with its detail goes without it, or not at all. */
  #error(id: number, code: string, message: string, detail?: object): void {
    const text = wireErrorMessage(message);
    try {
      this.#send({ t: 'error', re: id, p: { ...detail, code, message: text } });
      return;
    } catch (err) {
      if (detail === undefined) {
        this.#unsent(id, code, err);
        return;
      }
    }
    try {
      this.#send({ t: 'error', re: id, p: { code, message: text } });
    } catch (err) {
      this.#unsent(id, code, err);
    }
  }

  #unsent(id: number, code: string, err: unknown): void {
    this.#log.warn({ err, peer: this.#peer, re: id, code }, 'could not send an error reply');
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
