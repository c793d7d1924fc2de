// JSON API calls. A 401 (off loopback, without a session) sends the browser to /login; any other
// failure becomes an ApiError carrying the contract's {error: {code, message}}.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let redirecting = false;

/** Leaves for the login page (once). */
export function toLogin() {
  if (redirecting) return;
  redirecting = true;
  location.assign('/login');
}

/** GETs `path` and returns {body, date} (date: the response's Date header as epoch ms, or NaN). */
export async function getJson(path, { signal } = {}) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store', signal });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError(0, 'ERR_UNREACHABLE', 'the primary is not reachable');
  }
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, 'ERR_AUTH', 'login required');
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: reported below by status
  }
  if (!response.ok) {
    const error = body?.error ?? {};
    throw new ApiError(response.status, error.code ?? 'ERR_HTTP', error.message ?? `HTTP ${response.status}`);
  }
  return { body, date: Date.parse(response.headers.get('Date') ?? '') };
}

/** Whether the API needs a login right now (a cheap probe: a 404 answer means we are in). */
export async function checkLogin() {
  try {
    const response = await fetch('/api/nodes/-', { cache: 'no-store' });
    if (response.status === 401) toLogin();
  } catch {
    // unreachable: the stream's reconnect handles that
  }
}

/** The session's CSRF token (null on loopback, where there is no login), fetched once. */
let csrfToken;

/**
 * POSTs to `path` (an operator's act), with `body` as JSON when given, and returns the answer's
 * JSON; failures as getJson. `X-Picluster-Client` names the dashboard in what the primary records
 * of who asked (a task's `submittedBy`).
 */
export function postJson(path, body) {
  return sendJson('POST', path, body);
}

/** DELETEs `path` (an operator's act, as postJson) and returns the answer's JSON. */
export function deleteJson(path) {
  return sendJson('DELETE', path);
}

async function sendJson(method, path, body) {
  if (csrfToken === undefined) {
    const { body: session } = await getJson('/api/session');
    csrfToken = session?.csrfToken ?? null;
  }
  const headers = { Accept: 'application/json', 'X-Picluster-Client': 'dashboard' };
  if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'ERR_UNREACHABLE', 'the primary is not reachable');
  }
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, 'ERR_AUTH', 'login required');
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const error = answer?.error ?? {};
    throw new ApiError(response.status, error.code ?? 'ERR_HTTP', error.message ?? `HTTP ${response.status}`);
  }
  return answer;
}
