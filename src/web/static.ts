// The dashboard's static files: GET / is web/index.html, GET /assets/* a file under web/, and
// GET /assets/uplot/* uPlot's dist files from node_modules. No build step and no CDN: the page
// works offline on a LAN. Every response revalidates (ETag, 304) so an upgrade is seen at once;
// text is gzipped once and kept. Paths are checked segment by segment (no `..`, dotfiles, NUL,
// backslashes or encoded slashes), then resolved and checked to stay under their root.

import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Context, Hono } from 'hono';

/** web/ at the package root: the same from src/web/ (tsx) and dist/web/ (compiled). */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** The page may load only its own scripts, styles and API; no inline script, no framing. */
const HTML_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

interface CachedFile {
  mtimeMs: number;
  size: number;
  etag: string;
  body: Buffer;
  gzip: Buffer | undefined;
}

const errorBody = (code: string, message: string) => ({ error: { code, message } });

/**
 * The path segments of `rel` (a URL path below a root), percent-decoded, or undefined when any
 * segment is unsafe: empty, `.`/`..`, a dotfile, or containing NUL, `/`, `\` or `:` once decoded.
 */
export function safeSegments(rel: string): string[] | undefined {
  if (rel.length === 0 || rel.startsWith('/')) return undefined;
  const segments: string[] = [];
  for (const raw of rel.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined; // malformed percent-encoding
    }
    if (segment.length === 0 || segment.startsWith('.') || /[\0/\\:]/.test(segment)) return undefined;
    segments.push(segment);
  }
  return segments;
}

/** `root` joined with `segments`, or undefined when the result is not inside `root`. */
export function resolveUnder(root: string, segments: readonly string[]): string | undefined {
  const base = resolve(root);
  const full = resolve(base, ...segments);
  return full.startsWith(base + sep) ? full : undefined;
}

/** Serves GET / and GET /assets/* (see the header comment). Call before the app's fallback. */
export function registerStatic(app: Hono, options: { webRoot?: string } = {}): void {
  const webRoot = resolve(options.webRoot ?? WEB_ROOT);
  const uplotRoot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  const cache = new Map<string, CachedFile>();

  const load = async (file: string): Promise<CachedFile | undefined> => {
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    const hit = cache.get(file);
    if (hit && hit.mtimeMs === info.mtimeMs && hit.size === info.size) return hit;
    const body = await readFile(file);
    const compressible = /^(text\/|application\/(json|manifest)|image\/svg)/.test(contentTypeOf(file) ?? '');
    const entry: CachedFile = {
      mtimeMs: info.mtimeMs,
      size: info.size,
      etag: `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`,
      body,
      gzip: compressible && body.length > 1024 ? gzipSync(body) : undefined,
    };
    cache.set(file, entry);
    return entry;
  };

  const send = async (c: Context, file: string | undefined, extra: Record<string, string> = {}) => {
    const type = file && contentTypeOf(file);
    const entry = type ? await load(file) : undefined;
    if (!file || !type || !entry) return c.json(errorBody('ERR_NOT_FOUND', `no file ${c.req.path}`), 404);
    const headers: Record<string, string> = {
      'Content-Type': type,
      'Cache-Control': 'no-cache',
      ETag: entry.etag,
      'Last-Modified': new Date(entry.mtimeMs).toUTCString(),
      'X-Content-Type-Options': 'nosniff',
      Vary: 'Accept-Encoding',
      ...extra,
    };
    if (matchesEtag(c.req.header('If-None-Match'), entry.etag)) return c.body(null, 304, headers);
    if (entry.gzip && /\bgzip\b/.test(c.req.header('Accept-Encoding') ?? '')) {
      return c.body(new Uint8Array(entry.gzip), 200, { ...headers, 'Content-Encoding': 'gzip' });
    }
    return c.body(new Uint8Array(entry.body), 200, headers);
  };

  app.get('/', (c) => send(c, join(webRoot, 'index.html'), HTML_HEADERS));
  app.get('/assets/*', (c) => {
    const rel = new URL(c.req.url).pathname.slice('/assets/'.length);
    if (rel === '') return send(c, undefined);
    const segments = safeSegments(rel);
    if (!segments) return c.json(errorBody('ERR_BAD_REQUEST', 'bad asset path'), 400);
    const [first, ...rest] = segments;
    const file = first === 'uplot' ? resolveUnder(uplotRoot, rest) : resolveUnder(webRoot, segments);
    return send(c, file, file?.endsWith('.html') ? HTML_HEADERS : {});
  });
}

function contentTypeOf(file: string): string | undefined {
  return CONTENT_TYPES[extname(file).toLowerCase()];
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim() === '*' || bare(tag) === bare(etag));
}
