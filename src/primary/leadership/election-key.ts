// The election key and what it says (issue 17): PREFIX/<lease id in hex> = {"id", "address"}, its
// create revision the leader's epoch. Pure: no I/O.
import type { Clock } from '../../connection/clock.js';

export interface LeaderInfo {
  id: string;
  address: string;
  /** The leader's election key's create revision. */
  epoch: number;
  /** Wall-clock epoch ms when this primary first saw this leader (for display only). */
  since: number;
}

/** The election key of a lease: PREFIX + the lease id in lowercase hex (as etcd's Go client names it). */
export function electionKey(prefix: string, leaseId: string): string {
  return `${prefix}${BigInt(leaseId).toString(16)}`;
}

/** An etcd revision (int64 as a decimal string) as a number. @throws when it is not a safe positive integer */
export function toRevision(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`etcd revision ${value}: not a positive safe integer`);
  return n;
}

/** The leader from its election key's value (JSON `{id, address}`); `since` kept from what was known of the same epoch. */
export function parseLeader(value: string, epoch: number, known: LeaderInfo | undefined, clock: Clock): LeaderInfo {
  let id = '';
  let address = '';
  try {
    const parsed = JSON.parse(value) as { id?: unknown; address?: unknown };
    if (typeof parsed.id === 'string') id = parsed.id;
    if (typeof parsed.address === 'string') address = parsed.address;
  } catch (err) {
    void err; // a key written by something else: the leader stays known by its epoch alone
  }
  const since = known?.epoch === epoch ? known.since : clock.wallMs();
  return { id, address, epoch, since };
}
