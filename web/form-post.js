// What the tasks page's forms share: the args field read as a JSON object, and one POST of a form
// with its status line (what to fix, "…" while it runs, the primary's refusal, as text).

import { postJson } from './api.js';
import { setText } from './dom.js';

/** The args field as a JSON object ({} when empty), or throws an Error saying what to fix. */
export function argsObject(text) {
  const trimmed = text.trim();
  if (!trimmed) return {};
  let parsed;
  try {
    parsed = JSON.parse(trimmed);
  } catch (err) {
    throw new Error(`args are not JSON: ${err.message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error('args must be a JSON object');
  }
  return parsed;
}

/**
 * POSTs `body()` to `path` unless `guard.busy` (a POST of this form under way): an Error from
 * `body()` is shown in `status` and nothing is sent; `done(answer)` gets the stored object.
 */
export async function postForm({ guard, status, path, body, busyText, done }) {
  if (guard.busy) return;
  status.dataset.kind = '';
  let payload;
  try {
    payload = body();
  } catch (err) {
    status.dataset.kind = 'error';
    setText(status, err.message);
    return;
  }
  guard.busy = true;
  setText(status, busyText);
  try {
    done(await postJson(path, payload));
  } catch (err) {
    status.dataset.kind = 'error';
    setText(status, `Refused: ${err.code ?? 'ERR'}: ${err.message}`);
  } finally {
    guard.busy = false;
  }
}
