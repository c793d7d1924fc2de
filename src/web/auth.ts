// Web login (ARCHITECTURE.md, "web login"): off on loopback; on any other bind everything but
// /healthz, /api/leadership (who leads an HA cluster: names and addresses, as a standby's /healthz
// names its leader; registered before the guard in server.ts) and the login page needs the admin token, either as `Authorization: Bearer` (the CLI's
// --api-token, Prometheus) or through the login form, which sets an HttpOnly, SameSite=Strict
// session cookie. Cookie-authenticated mutating calls must carry the session's CSRF token and a
// same-origin Origin. Failed logins are rate-limited per address. Tokens never reach the logs.

import type { Context, Hono, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { randomHex, secretsEqual } from '../protocol/auth.js';
import { errorBody } from './api.js';
import { sameOrigin } from './guards.js';

const SESSION_COOKIE = 'picluster_session';
const SESSION_MS = 12 * 3_600_000;
const MAX_SESSIONS = 1000;
const FAILED_LOGINS_PER_MINUTE = 10;
const OPEN_PATHS = new Set(['/healthz', '/login']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

interface Session {
  expiresAt: number;
  csrfToken: string;
}

/** True for addresses only this machine can reach. */
export function isLoopback(bind: string): boolean {
  return bind === 'localhost' || bind === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bind);
}

export class WebAuth {
  readonly #token: string;
  readonly #sessions = new Map<string, Session>();
  readonly #failures = new Map<string, { count: number; since: number }>();

  readonly #secure: boolean;

  readonly #onLogin: (address: string, ok: boolean) => void;

  /**
   * `secure`: the site is served over HTTPS, and the session cookie says so (`Secure`);
   * `onLogin`: every login attempt, for the audit trail.
   */
  constructor(
    adminToken: string,
    options: { secure?: boolean; onLogin?: (address: string, ok: boolean) => void } = {},
  ) {
    this.#token = adminToken;
    this.#secure = options.secure === true;
    this.#onLogin = options.onLogin ?? (() => undefined);
  }

  register(app: Hono): void {
    app.get('/login', (c) => c.html(loginPage(c.req.query('failed') !== undefined)));
    app.post('/login', async (c) => this.#login(c));
    app.post('/logout', (c) => {
      const id = getCookie(c, SESSION_COOKIE);
      if (id) this.#sessions.delete(id);
      deleteCookie(c, SESSION_COOKIE, { path: '/' });
      return c.redirect('/login', 303);
    });
    app.get('/api/session', (c) => {
      const session = this.#session(c);
      return c.json({ authenticated: true, csrfToken: session?.csrfToken ?? null });
    });
  }

  /** The middleware that guards every route but the open ones. */
  readonly guard: MiddlewareHandler = async (c, next) => {
    if (OPEN_PATHS.has(c.req.path)) return next();
    const bearer = /^Bearer (.+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    if (bearer !== undefined) {
      if (secretsEqual(bearer, this.#token)) return next();
      return c.json(errorBody('ERR_AUTH', 'wrong admin token'), 401);
    }
    const session = this.#session(c);
    if (session) {
      if (!SAFE_METHODS.has(c.req.method)) {
        const csrf = c.req.header('x-csrf-token') ?? '';
        if (!sameOrigin(c) || !secretsEqual(csrf, session.csrfToken)) {
          return c.json(errorBody('ERR_AUTH', 'cross-site request refused: send X-CSRF-Token from /api/session'), 403);
        }
      }
      return next();
    }
    if (c.req.path.startsWith('/api/') || c.req.path === '/metrics') {
      return c.json(errorBody('ERR_AUTH', 'log in at /login, or send Authorization: Bearer <admin token>'), 401);
    }
    return c.redirect('/login', 302);
  };

  #session(c: Context): Session | undefined {
    const id = getCookie(c, SESSION_COOKIE);
    if (!id) return undefined;
    const session = this.#sessions.get(id);
    if (!session || session.expiresAt < performance.now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return session;
  }

  async #login(c: Context): Promise<Response> {
    if (!sameOrigin(c)) return c.json(errorBody('ERR_AUTH', 'cross-site login refused'), 403);
    const address = c.env?.incoming?.socket?.remoteAddress ?? 'unknown';
    // Monotonic: session lifetimes and the rate window are durations (a wall-clock step must not
    // end every session or lift the limit).
    const now = performance.now();
    if (this.#failures.size > 10_000) {
      // Bounded: forget windows that are over (many source addresses must not grow this forever).
      for (const [key, f] of this.#failures) if (now - f.since >= 60_000) this.#failures.delete(key);
      if (this.#failures.size > 10_000) this.#failures.clear();
    }
    const failures = this.#failures.get(address);
    if (failures && now - failures.since < 60_000 && failures.count >= FAILED_LOGINS_PER_MINUTE) {
      return c.json(errorBody('ERR_AUTH', 'too many failed logins: wait a minute'), 429);
    }
    const body = await c.req.parseBody();
    const token = typeof body.token === 'string' ? body.token : '';
    if (!secretsEqual(token, this.#token)) {
      this.#onLogin(address, false);
      const fresh = !failures || now - failures.since >= 60_000;
      this.#failures.set(address, {
        count: fresh ? 1 : (failures?.count ?? 0) + 1,
        since: fresh ? now : (failures?.since ?? now),
      });
      return c.redirect('/login?failed', 303);
    }
    this.#failures.delete(address);
    this.#onLogin(address, true);
    if (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value as string);
    const id = randomHex(32);
    this.#sessions.set(id, { expiresAt: now + SESSION_MS, csrfToken: randomHex(32) });
    setCookie(c, SESSION_COOKIE, id, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: this.#secure,
      path: '/',
      maxAge: SESSION_MS / 1000,
    });
    return c.redirect('/', 303);
  }
}

function loginPage(failed: boolean): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>picluster — log in</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { display: grid; place-items: center; min-height: 100vh; margin: 0; }
  form { display: grid; gap: .75rem; padding: 2rem; border: 1px solid #8884; border-radius: .5rem; min-width: 18rem; }
  input, button { font: inherit; padding: .5rem; }
  .error { color: #c33; }
</style></head>
<body><form method="post" action="/login">
  <h1>picluster</h1>
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
  ${failed ? '<p class="error" role="alert">Wrong token.</p>' : ''}
  <button type="submit">Log in</button>
  <small>The token is in the primary's data directory: <code>admin-token</code>.</small>
</form></body></html>`;
}
