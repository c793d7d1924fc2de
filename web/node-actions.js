// The operator's buttons on a node's page: approve or deny a pending node, approve a denied one,
// revoke or forget any other (forget asks whether to delete its history too). Which buttons show
// follows the node's state; each act asks for confirmation when it cannot be undone by a click.

import { postJson } from './api.js';
import { h, setText } from './dom.js';

const ACTIONS = {
  approve: { label: 'Approve', confirm: null },
  deny: { label: 'Deny', confirm: 'Deny this node? Its joins are refused until it is approved.' },
  revoke: {
    label: 'Revoke',
    confirm: 'Revoke this node? Its secret becomes void, its session is closed and its joins are refused.',
  },
  forget: { label: 'Forget', confirm: 'Forget this node? It is removed with its secret; it may join again as new.' },
};

/** The acts that apply to a node in this state. */
export function actionsFor(node) {
  if (node.legacy) return ['forget'];
  if (node.state === 'pending') return ['approve', 'deny'];
  if (node.state === 'denied') return ['approve', 'forget'];
  return ['revoke', 'forget'];
}

export class NodeActions {
  #id;
  #root;
  #status;
  #key = '';
  #busy = false;

  constructor(id) {
    this.#id = id;
    this.#status = h('span', { class: 'muted action-status', role: 'status' });
    this.#root = h('div', { class: 'node-actions' });
  }

  get element() {
    return this.#root;
  }

  render(node) {
    const actions = actionsFor(node);
    const key = actions.join(',');
    if (key === this.#key) return;
    this.#key = key;
    const buttons = actions.map((action) =>
      h('button', {
        type: 'button',
        class: `action action-${action}`,
        dataset: { action },
        text: ACTIONS[action].label,
        onclick: () => void this.#act(action),
      }),
    );
    this.#root.replaceChildren(...buttons, this.#status);
  }

  async #act(action) {
    if (this.#busy) return;
    const ask = ACTIONS[action].confirm;
    if (ask && !confirm(ask)) return;
    let history = false;
    if (action === 'forget') history = confirm("Also delete this node's history (samples and events)?");
    this.#busy = true;
    setText(this.#status, '…');
    try {
      const path = `/api/nodes/${encodeURIComponent(this.#id)}/${action}${history ? '?history=true' : ''}`;
      await postJson(path);
      // The stream brings the node's new state (or its removal).
      setText(this.#status, action === 'forget' ? 'Forgotten.' : 'Done.');
      if (action === 'forget') location.hash = '#/';
    } catch (err) {
      setText(this.#status, `Failed: ${err.message}`);
    } finally {
      this.#busy = false;
    }
  }
}
