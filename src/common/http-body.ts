// Reading an HTTP answer from a server picluster talks to (an alert receiver, InfluxDB) without
// trusting its size: a broken server or a proxy in front of it may send without end, and the
// primary may be a Pi. The body is read to its end when short (the connection goes back to the
// pool) and cancelled past the bound (the connection is closed instead).

/**
 * The first `maxBytes` of `answer`'s body as UTF-8 text, and whether there was more (cut).
 * @throws what reading the body throws (the request aborted, the connection reset)
 */
export async function readBodyHead(answer: Response, maxBytes: number): Promise<{ text: string; cut: boolean }> {
  const reader = answer.body?.getReader();
  if (reader === undefined) return { text: '', cut: false };
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    bytes += value.length;
    if (bytes > maxBytes) {
      await reader.cancel();
      return { text: Buffer.concat(chunks).toString('utf8', 0, maxBytes), cut: true };
    }
  }
  return { text: Buffer.concat(chunks).toString('utf8'), cut: false };
}
