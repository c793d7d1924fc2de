// The secondary's identity on disk (ARCHITECTURE.md, "Node states"): a node id (UUID) made on first
// start and kept with the machine-id it was made on, so an SD-card image cloned to many Pis gives
// each its own id; and the per-primary node secrets (mode 0600) issued at the first token join.

import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic } from '../node/index.js';

export interface NodeIdentity {
  nodeId: string;
  /** Why the id is new, when it is: 'first start' or 'machine-id changed'. */
  createdBecause: string | undefined;
}

interface IdentityFile {
  nodeId: string;
  machineId: string | null;
}

interface SecretEntry {
  nodeId: string;
  secret: string;
}

/** Loads the node id from `dataDir`, or makes a new one when there is none or the machine changed. */
export function loadNodeIdentity(dataDir: string, machineId: string | undefined): NodeIdentity {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'node-id.json');
  let createdBecause = 'first start';
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as IdentityFile;
    if (!stored.machineId || !machineId || stored.machineId === machineId) {
      return { nodeId: stored.nodeId, createdBecause: undefined };
    }
    createdBecause = 'machine-id changed (a cloned disk image?)';
  }
  const identity: IdentityFile = { nodeId: randomUUID(), machineId: machineId ?? null };
  writeAtomic(file, JSON.stringify(identity), 0o644);
  return { nodeId: identity.nodeId, createdBecause };
}

/** Node secrets, one per primary, kept in `DATA/node-secrets.json` (mode 0600). */
export class SecretStore {
  readonly file: string;
  #entries: Record<string, SecretEntry>;

  constructor(dataDir: string) {
    this.file = join(dataDir, 'node-secrets.json');
    this.#entries = existsSync(this.file)
      ? (JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, SecretEntry>)
      : Object.create(null);
  }

  /** The secret this node holds for `primaryId`, if it was issued to this node id. */
  get(primaryId: string, nodeId: string): string | undefined {
    const entry = Object.hasOwn(this.#entries, primaryId) ? this.#entries[primaryId] : undefined;
    return entry?.nodeId === nodeId ? entry.secret : undefined;
  }

  set(primaryId: string, nodeId: string, secret: string): void {
    this.#entries = { ...this.#entries, [primaryId]: { nodeId, secret } };
    writeAtomic(this.file, JSON.stringify(this.#entries), 0o600);
  }
}
