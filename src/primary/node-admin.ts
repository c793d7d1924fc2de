// The operator's acts on nodes and on the cluster token (the security issue's node lifecycle):
// approve a pending or denied node, deny or revoke one (its secret goes, its live session is
// closed, its joins are refused from then on), forget one (its row and secret go, its history
// stays unless asked), and rotate the token. Each is stored before it is answered, and each is an
// event in the events log (the audit trail), with the address it was asked from.

import { renameSync, writeFileSync } from 'node:fs';
import type { Logger } from '../common/logger.js';
import { randomHex } from '../protocol/auth.js';
import { RequestError } from '../protocol/errors.js';
import type { NodeChange } from '../store/store-api.js';
import type { AuditTrail } from './audit-trail.js';
import type { JoinCodeGrant, JoinCodes } from './join-codes.js';
import { type NodeRecord, type NodeView, type Registry, toView } from './registry.js';

/** Who asked: the address of the API client, for the audit trail. */
export interface Actor {
  address?: string;
}

export interface NodeAdminOptions {
  registry: Registry;
  log: Logger;
  /** Resolved once committed. */
  storeNow(changes: readonly NodeChange[]): Promise<void>;
  /** Resolves once the node's samples waiting in the vitals writer are committed. */
  flushVitals?(id: string): Promise<void>;
  emitNode(view: NodeView): void;
  /** The primary's state change (registry, store, event, 'node' event): a node found lost. */
  setState(record: NodeRecord, state: NodeRecord['state'], data: Record<string, unknown>): void;
  /** A node was forgotten: gone from every list. */
  emitRemoved(id: string): void;
  /** Closes a legacy node's live connection, recording nothing (the node is being forgotten). */
  closeLegacy(id: string, reason: string): void;
  /** Where the cluster token lives; undefined when it was given as a value (it cannot be rewritten). */
  tokenFile: string | undefined;
  /** Makes new joins need `token`. */
  setToken(token: string): void;
  /** Failed admin logins are counted per address, written once a minute. */
  audit: Pick<AuditTrail, 'count'>;
  /** Writes events in the next batch. */
  post(changes: NodeChange[]): void;
  /** Join codes (`createJoinCode`). */
  joinCodes: Pick<JoinCodes, 'create'>;
}

/** What the API and the CLI may ask of a running primary. */
export interface ClusterAdmin {
  approve(id: string, actor?: Actor): Promise<NodeView>;
  deny(id: string, actor?: Actor): Promise<NodeView>;
  revoke(id: string, actor?: Actor): Promise<NodeView>;
  forget(id: string, options?: { history?: boolean }, actor?: Actor): Promise<{ id: string; history: boolean }>;
  rotateToken(actor?: Actor): Promise<{ tokenFile: string }>;
  /** A join code for new nodes, recorded in the events log (without the code). */
  createJoinCode(options: { ttlMs?: number; uses?: number }, actor?: Actor): Promise<JoinCodeGrant>;
  /** A login to the web dashboard from `address`: an `admin-login` event, or a counted `login-failed`. */
  loginAttempt(address: string, ok: boolean): void;
}

export class NodeAdmin implements ClusterAdmin {
  readonly #o: NodeAdminOptions;

  constructor(options: NodeAdminOptions) {
    this.#o = options;
  }

  /** A pending or denied node may join (by token): it shows `left` until it does. */
  async approve(id: string, actor: Actor = {}): Promise<NodeView> {
    const record = this.#get(id);
    if (record.state !== 'pending' && record.state !== 'denied') {
      throw new RequestError(
        'ERR_CONFLICT',
        `node ${id} is ${record.state}: only a pending or denied node is approved`,
      );
    }
    const was = record.state;
    await this.#setState(record, 'left', 'approved', { was, by: actor.address ?? null });
    this.#o.log.info({ nodeId: id, name: record.name, was, by: actor.address }, 'node approved');
    return toView(record);
  }

  /** A pending node is refused from now on (on any other node, the same as revoke). */
  deny(id: string, actor: Actor = {}): Promise<NodeView> {
    return this.#refuse(id, 'denied', actor);
  }

  /** The node's secret goes and its live session is closed: it is refused from now on. */
  revoke(id: string, actor: Actor = {}): Promise<NodeView> {
    return this.#refuse(id, 'revoked', actor);
  }

  /**
   * The node's row and secret go, and its live session is closed; its samples and events stay
   * unless `history`. It may join again later as a new node (by token, subject to admission).
   */
  async forget(
    id: string,
    options: { history?: boolean } = {},
    actor: Actor = {},
  ): Promise<{ id: string; history: boolean }> {
    const record = this.#get(id);
    const history = options.history === true;
    // Gone from the registry at once, as the state changes below: a join meanwhile is a new node
    // (and writes after this), not one that brings the row back. Not online any more as far as
    // anything left holding the record is concerned: its link's end must record nothing.
    const was = record.state;
    this.#o.registry.delete(id);
    record.state = 'left';
    try {
      // Its samples in the commit window are written first: committed after the forget, they
      // would bring back a history just removed.
      await this.#o.flushVitals?.(id);
      await this.#o.storeNow([
        { op: 'forget', id, history },
        // Not the node's own event: it must outlive the node's history.
        {
          op: 'event',
          ts: Date.now(),
          nodeId: null,
          type: 'forgotten',
          data: { nodeId: id, name: record.name, history, by: actor.address ?? null },
        },
      ]);
    } catch (err) {
      record.state = was;
      if (this.#o.registry.get(id) === undefined) this.#o.registry.set(record);
      if (was === 'online' && record.session === undefined && !record.legacy)
        this.#o.setState(record, 'lost', { code: 'ERR_CLOSED' });
      throw err;
    }
    this.#closeSession(record, 'the node was forgotten by the operator');
    this.#o.emitRemoved(id);
    this.#o.log.info({ nodeId: id, name: record.name, history, by: actor.address }, 'node forgotten');
    return { id, history };
  }

  loginAttempt(address: string, ok: boolean): void {
    if (!ok) {
      this.#o.audit.count('login-failed', address);
      return;
    }
    this.#o.post([{ op: 'event', ts: Date.now(), nodeId: null, type: 'admin-login', data: { by: address } }]);
    this.#o.log.info({ by: address }, 'admin logged in to the dashboard');
  }

  /** A new cluster token in its file: new joins need it; enrolled nodes prove their secrets, untouched. */
  async rotateToken(actor: Actor = {}): Promise<{ tokenFile: string }> {
    const file = this.#o.tokenFile;
    if (file === undefined) {
      throw new RequestError(
        'ERR_CONFLICT',
        'the cluster token was given as a value (--token or PICLUSTER_TOKEN): change it there and restart, or give it in a file (--token-file) to rotate it here',
      );
    }
    const token = randomHex(32);
    // Whole or not at all: a crash leaves the old token or the new one.
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
    renameSync(tmp, file);
    this.#o.setToken(token);
    await this.#o.storeNow([
      {
        op: 'event',
        ts: Date.now(),
        nodeId: null,
        type: 'token-rotated',
        data: { tokenFile: file, by: actor.address ?? null },
      },
    ]);
    this.#o.log.info({ tokenFile: file, by: actor.address }, 'cluster token rotated: new nodes join with the new one');
    return { tokenFile: file };
  }

  async createJoinCode(options: { ttlMs?: number; uses?: number }, actor: Actor = {}): Promise<JoinCodeGrant> {
    const grant = this.#o.joinCodes.create(options);
    const { uses, expiresAt } = grant;
    const by = actor.address ?? null;
    await this.#o.storeNow([
      { op: 'event', ts: Date.now(), nodeId: null, type: 'join-code', data: { uses, expiresAt, by } },
    ]);
    this.#o.log.info({ uses, expiresAt: new Date(expiresAt).toISOString(), by }, 'join code made');
    return grant;
  }

  async #refuse(id: string, type: 'denied' | 'revoked', actor: Actor): Promise<NodeView> {
    const record = this.#get(id);
    if (record.legacy) {
      throw new RequestError(
        'ERR_CONFLICT',
        `node ${id} is a node of the original protocol: it has no credentials to ${type === 'denied' ? 'deny' : 'revoke'} (forget it, or stop --legacy)`,
      );
    }
    const was = record.state;
    await this.#setState(record, 'denied', type, { was, by: actor.address ?? null }, [{ op: 'revoke-secret', id }]);
    this.#closeSession(record, `the node was ${type} by the operator`);
    this.#o.log.info({ nodeId: id, name: record.name, was, by: actor.address }, `node ${type}`);
    return toView(record);
  }

  async #setState(
    record: NodeRecord,
    state: NodeRecord['state'],
    type: string,
    data: Record<string, unknown>,
    more: NodeChange[] = [],
  ): Promise<void> {
    const now = Date.now();
    // The registry takes the new state at once, not once it is stored: a handshake meanwhile must
    // see it (a pending node's retry that read "pending" here would write its record after this
    // change and undo the approval). Writes are stored in the order they are made, so the store
    // ends the same; a write that fails puts the old state back.
    const before = { state: record.state, connectedSince: record.connectedSince };
    record.state = state;
    record.connectedSince = null;
    try {
      await this.#o.storeNow([
        ...more,
        { op: 'state', id: record.id, state, at: record.lastSeen, connectedSince: null, lastSeq: record.lastSeq },
        { op: 'event', ts: now, nodeId: record.id, type, data },
      ]);
    } catch (err) {
      if (record.state === state) {
        Object.assign(record, before);
        // Its link ended meanwhile, and that end recorded nothing (the node was being refused): lost.
        if (record.state === 'online' && record.session === undefined)
          this.#o.setState(record, 'lost', { code: 'ERR_CLOSED' });
      }
      throw err;
    }
    this.#o.emitNode(toView(record));
  }

  /** Ends the node's live link without recording it lost: the operator's act is the record. */
  #closeSession(record: NodeRecord, reason: string): void {
    const conn = record.session;
    record.session = undefined;
    if (conn) {
      conn.destroy(reason);
    } else if (record.legacy) {
      this.#o.closeLegacy(record.id, reason);
    }
  }

  #get(id: string): NodeRecord {
    const record = this.#o.registry.get(id);
    if (!record) throw new RequestError('ERR_NOT_FOUND', `no node with id ${id}`);
    return record;
  }
}
