// Typed dispatch of messages to handlers (STYLE.md, "one dispatch table over a discriminated
// union"): a table names one handler per message type, each typed with the payload its schema
// gives (messages.ts), so no handler casts `p`. Lookups go through a Map built once, never a
// property of a plain object: a type named "constructor" or "__proto__" finds nothing.

import type { Message, MessageType, PayloadOf } from '../protocol/messages.js';
import type { Connection } from './connection.js';

/** Handles a one-way message of type K that came with `context` (the session it arrived on). */
export type MessageHandler<K extends MessageType, C> = (payload: PayloadOf<K>, context: C) => void;

/** One handler per one-way message type taken; types left out go to the dispatcher's `unknown`. */
export type MessageHandlers<C> = { readonly [K in MessageType]?: MessageHandler<K, C> };

/** Answers a request of type K: returns (or resolves to) the reply payload; throws to reply `error`. */
export type RequestHandlerOf<K extends MessageType, C> = (payload: PayloadOf<K>, context: C) => unknown;

/** One handler per request type answered. */
export type RequestHandlers<C> = { readonly [K in MessageType]?: RequestHandlerOf<K, C> };

type AnyHandler<C> = (payload: unknown, context: C) => unknown;

/** The handlers of a table in a Map. */
function handlerMap<C>(table: MessageHandlers<C> | RequestHandlers<C>): Map<string, AnyHandler<C>> {
  // The one cast of a payload's type: the frame decoder checked every payload of a known type
  // against its schema (validateMessage), so the handler registered for `t` gets what it names.
  return new Map(Object.entries(table) as Array<[string, AnyHandler<C>]>);
}

export class MessageDispatcher<C> {
  readonly #handlers: Map<string, AnyHandler<C>>;
  readonly #unknown: (message: Message, context: C) => void;

  /** `unknown` takes the messages no handler is registered for (ARCHITECTURE.md: dropped, link up). */
  constructor(handlers: MessageHandlers<C>, unknown: (message: Message, context: C) => void) {
    this.#handlers = handlerMap(handlers);
    this.#unknown = unknown;
  }

  /** Whether a handler of this table takes messages of type `t`. */
  handles(t: string): boolean {
    return this.#handlers.has(t);
  }

  dispatch(message: Message, context: C): void {
    const handler = this.#handlers.get(message.t);
    if (handler === undefined) this.#unknown(message, context);
    else handler(message.p ?? {}, context);
  }
}

/** Registers every request handler of `table` on `connection`, each called with `context`. */
export function handleRequests<C>(connection: Connection, table: RequestHandlers<C>, context: C): void {
  for (const [type, handler] of handlerMap(table)) connection.handle(type, (payload) => handler(payload, context));
}
