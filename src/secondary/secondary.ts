// The agent on every node: dial the primary (one address after another), open, hand-shake, send
// machine info, hand the link to the vitals sender, answer requests, and reconnect forever with
// capped, jittered backoff. One `async` loop owns the link (nats' dial loop); one state field.
// Messages from the primary go through the dispatch tables of handlers/.

import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { DEFAULTS } from '../common/defaults.js';
import { type Logger, silentLogger } from '../common/logger.js';
import { Backoff, sleep } from '../connection/backoff.js';
import { Connection } from '../connection/connection.js';
import type { RequestHandler, RequestOptions } from '../connection/connection-options.js';
import { handleRequests, MessageDispatcher } from '../connection/dispatch.js';
import { DataDirLock, makePrivateDir } from '../node/index.js';
import { checkedToken } from '../protocol/auth.js';
import { ConfigError, DisconnectionError, PiclusterError } from '../protocol/errors.js';
import { checkNodeNaming } from '../protocol/messages.js';
import type { NodeView } from '../protocol/node-view.js';
import { OPENING_MAGIC } from '../protocol/opening.js';
import { type AgentState, openAgentState } from './agent-state.js';
import { AGENT_MESSAGES, AGENT_REQUESTS, type AgentSession } from './handlers/index.js';
import { handshake } from './handshake.js';
import { isTooLarge } from './link-writes.js';
import type { Outbox } from './outbox.js';
import { type PrimaryAddress, parsePrimaries } from './primary-address.js';
import { PrimaryDialer } from './primary-dialer.js';
import { PrimaryTrust } from './primary-trust.js';
import { RetryPolicy } from './retry-policy.js';
import type {
  SecondaryEvents,
  SecondaryOptions,
  SecondaryPlugin,
  SecondaryState,
  TaskHandler,
} from './secondary-options.js';
import { addOwnTaskKind, type ResolvedTasksOptions, resolveTasksOptions } from './task-setup.js';

export type { PrimaryAddress, SecondaryEvents, SecondaryOptions, SecondaryPlugin, SecondaryState };

export class Secondary extends EventEmitter<SecondaryEvents> {
  readonly dataDir: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly primaries: PrimaryAddress[];
  #state: SecondaryState = 'idle';
  readonly #options: SecondaryOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #handlers = new Map<string, RequestHandler>();
  readonly #teardowns: Array<() => void> = [];
  readonly #abort = new AbortController();
  readonly #messages: MessageDispatcher<AgentSession>;
  readonly #taskOptions: ResolvedTasksOptions;
  /** What start() opened from the data dir. */
  #agent: AgentState | undefined;
  #conn: Connection | undefined;
  #loop: Promise<void> | undefined;
  #lock: DataDirLock | undefined;
  readonly #retry: RetryPolicy;
  readonly #dialer: PrimaryDialer;

  constructor(options: SecondaryOptions) {
    super();
    this.#options = options;
    this.primaries = typeof options.primary === 'string' ? parsePrimaries(options.primary) : options.primary;
    if (this.primaries.length === 0) throw new ConfigError('no primary address given');
    this.dataDir = resolve(options.dataDir ?? DEFAULTS.dataDir);
    this.name = options.name ?? hostname();
    this.labels = options.labels ?? {};
    checkNodeNaming(this.name, this.labels);
    this.#log = options.logger ?? silentLogger;
    if (options.token !== undefined) checkedToken(options.token, 'the token given');
    this.#backoff = new Backoff(options.reconnect);
    this.#taskOptions = resolveTasksOptions(options.tasks, options.tls === false);
    this.#retry = new RetryPolicy({
      backoff: this.#backoff,
      logger: this.#log,
      hasToken: options.token !== undefined,
      onRefused: (err) => this.emit('authFailed', err),
      mayRedirect: (leader) =>
        options.tls !== false ||
        this.primaries.some((p) => p.host.toLowerCase() === leader.host.toLowerCase() && p.port === leader.port),
    });
    // TLS unless turned off; whom to trust is read now, so a bad pin or file fails at construction.
    this.#dialer = new PrimaryDialer(
      options.tls === false ? undefined : new PrimaryTrust(this.dataDir, options.tls ?? {}, this.#log),
    );
    // One-way messages no handler takes are the plugins' (the 'message' event).
    this.#messages = new MessageDispatcher(AGENT_MESSAGES, (message, { conn }) => this.emit('message', message, conn));
  }

  get nodeId(): string {
    return this.#agent?.nodeId ?? '';
  }

  get state(): SecondaryState {
    return this.#state;
  }

  get outbox(): Outbox | undefined {
    return this.#agent?.outbox;
  }

  /** The live link to the primary, while online. */
  get connection(): Connection | undefined {
    return this.#state === 'online' ? this.#conn : undefined;
  }

  /** Registers a handler for requests the primary sends (kept across reconnects). */
  handle(type: string, handler: RequestHandler): this {
    this.#handlers.set(type, handler);
    this.#conn?.handle(type, handler);
    return this;
  }

  /** Registers a task kind this node runs (allowed: the node's own code chose it); see TaskHandler. */
  task(kind: string, handler: TaskHandler): this {
    addOwnTaskKind(this.#taskOptions, kind, handler);
    return this;
  }

  use(plugin: SecondaryPlugin): this {
    const teardown = plugin.setup(this);
    if (teardown) this.#teardowns.push(teardown);
    return this;
  }

  /** Asks the primary something: `query('nodes')`, `query('node', id)`, `query('primary')`. */
  query(what: 'primary' | 'nodes' | 'node', id?: string, options?: RequestOptions): Promise<unknown> {
    return this.request('query', id === undefined ? { what } : { what, id }, options);
  }

  /**
   * Every node the primary knows, in id order: `query('nodes')` page after page (a page is at
   * most 500 nodes and fits the primary's frame limit). A node joining meanwhile may be missed;
   * none is listed twice.
   */
  async listNodes(options?: RequestOptions): Promise<NodeView[]> {
    const nodes: NodeView[] = [];
    let after: string | undefined;
    do {
      const page = (await this.request(
        'query',
        after === undefined ? { what: 'nodes' } : { what: 'nodes', after },
        options,
      )) as {
        nodes: NodeView[];
        next?: string;
      };
      nodes.push(...page.nodes);
      after = page.next;
    } while (after !== undefined);
    return nodes;
  }

  /** Sends a request to the primary; rejects with DisconnectionError while offline. */
  request(type: string, payload: unknown = {}, options?: RequestOptions): Promise<unknown> {
    const conn = this.connection;
    if (!conn)
      return Promise.reject(new DisconnectionError('ERR_CLOSED', `not connected to a primary (${this.#state})`));
    return conn.request(type, payload, options);
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new PiclusterError('ERR_INTERNAL', `secondary already ${this.#state}`);
    makePrivateDir(this.dataDir);
    // One process per data dir: two agents on one outbox would number and drop each other's samples.
    const lock = await DataDirLock.acquire(this.dataDir, 'secondary');
    try {
      this.#agent = await openAgentState({
        options: this.#options,
        taskOptions: this.#taskOptions,
        host: this,
        version: this.#version,
        log: this.#log,
        onSample: (sample) => this.emit('sample', sample),
        onAck: (seq) => this.emit('ack', seq),
      });
    } catch (err) {
      await lock.release();
      throw err;
    }
    this.#lock = lock;
    this.#agent.sender.start();
    this.#loop = this.#run();
  }

  /** Says goodbye (the node becomes `left`), flushes the outbox as far as it can, and stops. */
  async stop(reason = 'shutdown'): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return this.#loop;
    const conn = this.connection;
    this.#setState('stopping');
    this.#agent?.sender.stop();
    for (const teardown of this.#teardowns.splice(0)) teardown();
    const stopTimeoutMs = this.#options.stopTimeoutMs ?? 2_000;
    // Running tasks end first (journaled as interrupted), so their results can still go out.
    await this.#agent?.tasks.stop(stopTimeoutMs);
    if (conn) {
      // Bye first: the primary acks what it holds of ours then, not at the end of its window.
      try {
        conn.send('bye', { reason });
      } catch (err) {
        this.#log.debug({ err }, 'link went down before bye');
      }
      await this.#agent?.sender.waitForAcks(stopTimeoutMs);
      await conn.close();
    }
    this.#abort.abort(new DisconnectionError('ERR_CLOSED', 'secondary stopped'));
    await this.#loop;
    this.#agent?.outbox.close();
    this.#agent?.tasks.close();
    await this.#lock?.release();
    this.#setState('stopped');
  }

  get #version(): string {
    return this.#options.version ?? '0.0.0';
  }

  /**
   * Tells the listeners, each on its own: what one throws is logged, not thrown into the agent (a
   * listener's bug must neither end the process, as a throw in the reconnect loop did, nor cost
   * the node its link) and not kept from the listeners after it. `error` keeps EventEmitter's meaning.
   */
  override emit<K extends keyof SecondaryEvents>(event: K, ...args: SecondaryEvents[K]): boolean {
    if ((event as string) === 'error') return super.emit(event, ...(args as never));
    const listeners = this.rawListeners(event as string);
    for (const listener of listeners) {
      try {
        Reflect.apply(listener, this, args); // a `once` wrapper removes itself
      } catch (err) {
        this.#log.error({ err, event }, 'a listener of the secondary failed');
      }
    }
    return listeners.length > 0;
  }

  #setState(state: SecondaryState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.emit('state', state);
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#abort.signal.aborted) {
      const target =
        this.#retry.takeRedirect() ?? (this.primaries[attempt++ % this.primaries.length] as PrimaryAddress);
      let delayMs: number;
      try {
        this.#setState('connecting');
        await this.#session(target);
        delayMs = this.#backoff.next();
      } catch (err) {
        if (this.#abort.signal.aborted) break;
        delayMs = this.#retry.delayAfter(err, target);
      }
      if (this.#abort.signal.aborted) break;
      this.#setState('backoff');
      try {
        await sleep(delayMs, this.#abort.signal);
      } catch {
        break; // stopped while waiting
      }
    }
  }

  /** One life of the link: dial, open, hand-shake, serve until it drops. */
  async #session(target: PrimaryAddress): Promise<void> {
    const handshakeMs = this.#options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
    const link = await this.#dialer.connect(target, handshakeMs, this.#abort.signal);
    const { socket } = link;
    socket.write(OPENING_MAGIC);
    const conn = new Connection(socket, {
      heartbeat: { intervalMs: this.#options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs },
      logger: this.#log,
    });
    this.#conn = conn;
    const gone = new Promise<DisconnectionError>((done) => conn.once('disconnect', done));
    const onAbort = () => conn.destroy('secondary stopped');
    this.#abort.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const { secrets, nodeId, machineId } = this.#agent as AgentState;
      const result = await handshake(conn, {
        nodeId,
        name: this.name,
        labels: this.labels,
        version: this.#version,
        machineId: machineId ?? '',
        token: this.#options.token,
        secretFor: (primaryId) => (this.#retry.proveSecret ? secrets.get(primaryId, nodeId) : undefined),
        timeoutMs: handshakeMs,
      }).catch((err: unknown) => {
        this.#retry.handshakeFailed(err);
        conn.destroy('handshake failed');
        throw err;
      });
      try {
        link.proven(); // a first-use certificate is pinned only now, its primary's proof checked
        if (result.nodeSecret) secrets.set(result.primaryId, nodeId, result.nodeSecret);
      } catch (err) {
        conn.destroy('cannot keep the pin or the node secret');
        throw err;
      }
      if (result.nodeSecret) this.#retry.secretIssued();
      conn.setHeartbeatInterval(result.heartbeatMs);
      // The primary's frame limit, both ways: a larger message sent would cost the link, so it is
      // refused here with ERR_FRAME_TOO_LARGE (a reply becomes an error reply) and the link stays.
      conn.setMaxFrameBytes(Math.min(result.maxFrameBytes, DEFAULTS.maxFrameBytesCeiling));
      try {
        this.#serve(conn, result.lastSeq);
        this.#backoff.connected();
        this.#retry.online();
        this.#setState('online');
        this.#log.info({ primary: `${target.host}:${target.port}`, nodeId }, 'online');
        this.emit('online', {
          nodeId,
          primaryId: result.primaryId,
          address: `${target.host}:${target.port}`,
        });
      } catch (err) {
        // The outbox's file failed (attach writes to it): this link is given up like any other,
        // not left open beside the next one (which the loop dials after a backoff).
        conn.destroy('cannot serve the link');
        throw err;
      }
      const err = await gone;
      this.#backoff.disconnected();
      if (this.#abort.signal.aborted || this.#state === 'stopping') return;
      this.#log.warn({ code: err.code }, `lost the primary: ${err.message}`);
      this.emit('offline', err);
    } finally {
      this.#abort.signal.removeEventListener('abort', onAbort);
    }
  }

  #serve(conn: Connection, lastSeq: number): void {
    const { sender, tasks, info } = this.#agent as AgentState;
    const session: AgentSession = { conn, sender, tasks, info, log: this.#log };
    for (const [type, handler] of this.#handlers) conn.handle(type, handler);
    handleRequests(conn, AGENT_REQUESTS, session);
    conn.on('message', (message) => this.#messages.dispatch(message, session));
    if (info) {
      try {
        conn.send('info', info);
      } catch (err) {
        if (!isTooLarge(err)) throw err;
        this.#log.warn({ err }, "machine info is larger than the primary's frame limit: not sent");
      }
    }
    sender.attach(conn, lastSeq);
    tasks.attach(conn);
  }
}
