// The first bytes of a connection tell the primary what it talks to (ARCHITECTURE.md, "Opening"):
// the 4-byte magic `PIC` + version 1 → a native secondary; `{` → a node of the original protocol;
// 0x16 → a TLS ClientHello (inside it, the same rules again); anything else → closed.

export const OPENING_MAGIC = Buffer.from([0x50, 0x49, 0x43, 0x01]);

export type Opening = 'native' | 'legacy' | 'tls' | 'unknown' | 'incomplete';

/** The first byte of a TLS record of type handshake: a ClientHello. */
export const TLS_HANDSHAKE_BYTE = 0x16;

export function classifyOpening(head: Buffer): Opening {
  if (head.length === 0) return 'incomplete';
  if (head[0] === 0x7b) return 'legacy';
  if (head[0] === TLS_HANDSHAKE_BYTE) return 'tls';
  const n = Math.min(head.length, OPENING_MAGIC.length);
  if (!head.subarray(0, n).equals(OPENING_MAGIC.subarray(0, n))) return 'unknown';
  return n < OPENING_MAGIC.length ? 'incomplete' : 'native';
}
