// Each node's small integer key (table node_keys): what the vitals tables store instead of the
// 36-character id, in every row and index entry. Keys are made at a node's first sample and go
// when its history is forgotten; the cache follows the transactions (`commit`, `rollback`).

import type Database from 'better-sqlite3';

export class NodeKeys {
  readonly #stmts;
  readonly #cache = new Map<string, number>();
  /** Keys made by the transaction under way: dropped from the cache if it rolls back. */
  #made: string[] = [];

  constructor(db: Database.Database) {
    this.#stmts = {
      get: db.prepare('SELECT key FROM node_keys WHERE id = ?'),
      add: db.prepare('INSERT INTO node_keys (id) VALUES (?)'),
      remove: db.prepare('DELETE FROM node_keys WHERE id = ?'),
    };
  }

  /** The key of a node that has one (undefined: it never had a sample stored). */
  find(id: string): number | undefined {
    let key = this.#cache.get(id);
    if (key === undefined) {
      key = (this.#stmts.get.get(id) as { key: number } | undefined)?.key;
      if (key !== undefined) this.#cache.set(id, key);
    }
    return key;
  }

  /** The key of a node, made if it has none (inside the caller's transaction). */
  keyOf(id: string): number {
    const found = this.find(id);
    if (found !== undefined) return found;
    const key = Number(this.#stmts.add.run(id).lastInsertRowid);
    this.#cache.set(id, key);
    this.#made.push(id);
    return key;
  }

  /** The transaction committed: the keys it made are real. */
  commit(): void {
    this.#made = [];
  }

  /** The transaction rolled back: the keys it made are not. */
  rollback(): void {
    for (const id of this.#made) this.#cache.delete(id);
    this.#made = [];
  }

  /** Deletes a node's key (inside the caller's transaction). */
  remove(id: string): void {
    this.#stmts.remove.run(id);
    this.#cache.delete(id);
  }

  /** Forgets the cache (after a transaction that removed keys failed). */
  clear(): void {
    this.#cache.clear();
    this.#made = [];
  }
}
