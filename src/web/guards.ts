// What every request to the web port passes before it reaches a route, logged in or not: a bound on
// the body it may send (4 KiB for /login, 64 KiB elsewhere: the API takes no large bodies), and,
// for anything that changes state, proof that a browser sent it from the dashboard's own origin.
// A browser always says where a POST comes from (Origin, Sec-Fetch-Site), so a page elsewhere (a
// site on the internet, another local web app on another port) is refused even on loopback,
// where there is no login; a request that names no origin at all is not a browser's (the CLI,
// curl, Prometheus) and needs the login's bearer token off loopback like any other.

import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

export const LOGIN_BODY_LIMIT = 4 * 1024;
export const BODY_LIMIT = 64 * 1024;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const errorBody = (code: string, message: string) => ({ error: { code, message } });

const limit = (maxSize: number): MiddlewareHandler =>
  bodyLimit({
    maxSize,
    onError: (c) => c.json(errorBody('ERR_BAD_REQUEST', `request body over ${maxSize} bytes`), 413),
  });

/** The body limits: /login first (the tighter one), then every other route. */
export const loginBodyLimit = limit(LOGIN_BODY_LIMIT);
export const apiBodyLimit = limit(BODY_LIMIT);

/** True when the request came from this very origin, or from no browser page at all. */
export function sameOrigin(c: Context): boolean {
  const origin = c.req.header('origin');
  if (origin !== undefined) {
    try {
      return new URL(origin).host === c.req.header('host');
    } catch {
      return false; // an Origin that is not a URL is not ours ("null" from a sandboxed page, too)
    }
  }
  // Without Origin: "none" is the user's own navigation; "same-site" is another port of this host.
  const site = c.req.header('sec-fetch-site');
  return site === undefined || site === 'same-origin' || site === 'none';
}

/** State-changing requests from another origin are refused (403), on loopback too. */
export const sameOriginWrites: MiddlewareHandler = async (c, next) => {
  if (SAFE_METHODS.has(c.req.method) || sameOrigin(c)) return next();
  return c.json(
    errorBody('ERR_FORBIDDEN', 'cross-origin request refused: use the dashboard, or the API without a browser'),
    403,
  );
};
