// The "Remove" button of a row in the alerts page's tables (a silence, a rule made in the
// dashboard): it DELETEs its path (api.js: as the dashboard, with the session's CSRF token), then
// the table loads again; a refusal shows beside it, as text, and the button works again.

import { deleteJson } from './api.js';
import { h, setText } from './dom.js';

/**
 * The button and its status line, for a table cell. label: its accessible name ("Remove the
 * silence of rule busy"); path: what to DELETE; onRemoved(): the primary removed it.
 */
export function removeButton({ label, path, onRemoved }) {
  const status = h('span', { class: 'action-status', role: 'status' });
  const button = h('button', {
    type: 'button',
    class: 'action action-remove',
    text: 'Remove',
    'aria-label': label,
    onclick: async () => {
      button.disabled = true;
      setText(status, '…');
      try {
        await deleteJson(path);
        onRemoved();
      } catch (err) {
        button.disabled = false;
        setText(status, `Failed: ${err.message}`);
      }
    },
  });
  return [button, ' ', status];
}
