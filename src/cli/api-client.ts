// The CLI's calls to the primary's JSON API (`--api URL`, `--api-token`): one request, its JSON
// answer, and one clear line when the primary cannot be reached or says no.

import type { Config } from './config.js';

/** A call that did not give an answer to use: `message` is the line to print. */
export class ApiCallError extends Error {}

export async function callApi<T>(
  config: Pick<Config, 'api' | 'apiToken'>,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const url = new URL(path, config.api);
  let response: Response;
  const headers: Record<string, string> = { 'x-picluster-client': 'cli' };
  if (config.apiToken) headers.authorization = `Bearer ${config.apiToken}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new ApiCallError(`cannot reach the primary API at ${url} (${cause}): is the primary running? (--api URL)`);
  }
  const text = await response.text();
  if (!response.ok) {
    let detail = text.slice(0, 500);
    try {
      const { error } = JSON.parse(text) as { error?: { code?: string; message?: string } };
      if (error?.code) detail = `${error.code}: ${error.message ?? ''}`;
    } catch {
      // not the API's error body: show it as it came
    }
    throw new ApiCallError(`${method} ${url} answered ${response.status}: ${printable(detail)}`);
  }
  return JSON.parse(text) as T;
}

/**
 * Text from the network made safe for a terminal: control characters (escape sequences that
 * could move the cursor, retitle the window or hide lines) become `?`.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}

/** Rows under a header in columns two spaces apart, each line without trailing blanks. */
export function textTable(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `${cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd()}\n`;
  return `${line(header)}${rows.map(line).join('')}`;
}

/** An epoch-ms time for a table, in UTC to the second ("2026-12-06 22:35:36"), or "-". */
export function timeOf(ms: number | null | undefined): string {
  return typeof ms === 'number' ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-';
}
