// What the dashboard's forms share: a labelled field, a form that posts in place (no navigation,
// the browser's own checks off: the form says what to fix), the args field read as a JSON object,
// and one POST of a form with its status line (what to fix, "…" while it runs, the primary's
// refusal, as text).

import { postJson } from './api.js';
import { h, setText } from './dom.js';

/** A field: the label of the control `id`, the control, then anything under it (hints, a datalist). */
export function formField(id, label, control, ...rest) {
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), control, ...rest);
}

/** A <form> of `children` whose submit runs `onSubmit(form)` in place. */
export function postingForm(className, onSubmit, ...children) {
  const form = h(
    'form',
    {
      class: className,
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        onSubmit(form);
      },
    },
    ...children,
  );
  return form;
}

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
 * `body()` is shown and nothing is sent; `done(answer)` gets the stored object. What to fix and
 * the primary's refusal go to `alert` when given (an element with role="alert": announced at
 * once), else to `status`, which shows the progress.
 */
export async function postForm({ guard, status, alert = status, path, body, busyText, done }) {
  if (guard.busy) return;
  const fail = (message) => {
    if (alert !== status) setText(status, '');
    alert.dataset.kind = 'error';
    setText(alert, message);
  };
  status.dataset.kind = '';
  alert.dataset.kind = '';
  if (alert !== status) setText(alert, '');
  let payload;
  try {
    payload = body();
  } catch (err) {
    fail(err.message);
    return;
  }
  guard.busy = true;
  setText(status, busyText);
  try {
    done(await postJson(path, payload));
  } catch (err) {
    fail(`Refused: ${err.code ?? 'ERR'}: ${err.message}`);
  } finally {
    guard.busy = false;
  }
}
