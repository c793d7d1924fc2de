// A node's page (#/node/ID): its name, state, firing alerts (a badge linking to the alerts page),
// labels and connection line, then its cards (NodeCards), its history charts (VitalCharts), its
// recent events (EventList) and tasks (NodeTasks). The node is loaded once from /api/nodes/:id,
// then followed through the model: the header and cards are redrawn at most once a frame, and
// each new sample goes to the charts as it comes.

import { alertBadge, showAlertBadge } from './alert-format.js';
import { ApiError, getJson } from './api.js';
import { h, labelChips, safeClass, setText } from './dom.js';
import { EventList } from './event-list.js';
import * as fmt from './format.js';
import { NodeActions } from './node-actions.js';
import { NodeCards } from './node-cards.js';
import { NodeTasks } from './node-tasks.js';
import { VitalCharts } from './vital-charts.js';

export class NodePage {
  #model;
  #alerts;
  #id;
  #root;
  #els = {};
  #cards;
  #actions;
  #charts;
  #events;
  #tasks;
  #unsubscribe;
  #alive = true;
  #frame = 0;

  /** alerts: the OpenAlerts whose firing ones show as a badge by the node's state. */
  constructor(model, id, rangeKey, alerts) {
    this.#model = model;
    this.#alerts = alerts;
    this.#id = id;
    this.#cards = new NodeCards();
    this.#actions = new NodeActions(id);
    this.#charts = new VitalCharts(model, id, rangeKey, {
      onState: (state) => {
        this.#root.dataset.charts = state;
      },
      onNotFound: () => this.#notFound(),
    });
    this.#events = new EventList(model, id);
    this.#tasks = new NodeTasks(model, id);
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  mount() {
    this.#unsubscribe = [
      this.#model.subscribe((ids, kind) => {
        if (ids === null || ids.has(this.#id)) this.#onNodeChange(kind);
      }),
      this.#alerts.subscribe((ids) => {
        if (ids === null || ids.has(this.#id)) this.#showAlerts();
      }),
    ];
    this.#showAlerts();
    void this.#loadNode();
    this.#charts.mount();
    this.#events.mount();
    this.#tasks.mount();
  }

  unmount() {
    for (const off of this.#unsubscribe ?? []) off();
    this.#events.unmount();
    this.#tasks.unmount();
    cancelAnimationFrame(this.#frame);
    this.#charts.unmount();
    this.#alive = false;
  }

  #build() {
    const title = h('h1', { tabindex: '-1', text: this.#model.nodes.get(this.#id)?.name ?? 'Node' });
    const badge = h('span', { class: 'badge' });
    const alerts = alertBadge('a', { href: '#/alerts' });
    const labels = h('span', { class: 'labels' });
    const sub = h('p', { class: 'muted node-sub' });
    const message = h('p', { class: 'empty', hidden: true });
    this.#els = { title, badge, alerts, labels, sub, message };
    return h(
      'section',
      { class: 'page node-page', dataset: { node: this.#id } },
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/', text: '← All nodes' })),
      h('header', { class: 'node-head' }, title, badge, alerts, labels),
      sub,
      this.#actions.element,
      message,
      this.#cards.element,
      this.#charts.element,
      h('div', { class: 'recents' }, this.#events.element, this.#tasks.element),
    );
  }

  async #loadNode() {
    try {
      const { body } = await getJson(`/api/nodes/${encodeURIComponent(this.#id)}`);
      if (!this.#alive) return;
      // The stream may have brought something newer meanwhile.
      if (!this.#model.nodes.get(this.#id)) this.#model.upsertNode(body);
      else this.#render(body);
    } catch (err) {
      if (!this.#alive) return;
      if (err instanceof ApiError && err.status === 404) this.#notFound();
      else if (!this.#model.nodes.get(this.#id)) this.#showMessage(`Could not load the node: ${err.message}`);
    }
  }

  #notFound() {
    this.#root.dataset.missing = 'true';
    setText(this.#els.title, 'Node not found');
    this.#showMessage(`There is no node with id ${this.#id}.`);
    for (const el of [
      this.#cards.element,
      this.#charts.element,
      this.#events.element,
      this.#tasks.element,
      this.#actions.element,
    ])
      el.hidden = true;
  }

  #showAlerts() {
    showAlertBadge(this.#els.alerts, this.#alerts.firingOn(this.#id));
  }

  #showMessage(text) {
    this.#els.message.textContent = text;
    this.#els.message.hidden = false;
  }

  #onNodeChange(kind) {
    const node = this.#model.nodes.get(this.#id);
    if (!node) return;
    if (kind !== 'all' && node.vitals) this.#charts.addSample(node.vitals);
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#render(this.#model.nodes.get(this.#id));
    });
  }

  #render(node) {
    if (!node) return;
    this.#els.message.hidden = true;
    setText(this.#els.title, node.name || node.id);
    document.title = `${node.name || node.id} · picluster`;
    this.#els.badge.className = `badge state-${safeClass(node.state)}`;
    setText(this.#els.badge, node.state);
    this.#root.dataset.state = safeClass(node.state);
    const labelsKey = JSON.stringify(node.labels ?? {});
    if (this.#els.labels.dataset.key !== labelsKey) {
      this.#els.labels.dataset.key = labelsKey;
      this.#els.labels.replaceChildren(...labelChips(node.labels));
    }
    const now = this.#model.now();
    const seenAt = Math.max(node.lastSeen ?? 0, node.vitals?.receivedAt ?? 0);
    const parts = [`id ${node.id}`];
    if (node.address) parts.push(`address ${node.address}`);
    if (node.state === 'online' && node.connectedSince) parts.push(`connected ${fmt.ago(now - node.connectedSince)}`);
    parts.push(`last seen ${fmt.ago(now - seenAt)}`);
    if (node.legacy) parts.push('legacy protocol');
    setText(this.#els.sub, parts.join(' · '));
    this.#actions.render(node);
    this.#cards.render(node);
  }
}
