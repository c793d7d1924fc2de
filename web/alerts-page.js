// The alerts page (#/alerts): the open alerts (AlertList, live from OpenAlerts) with a "Silence"
// button on each firing one, the form that makes a silence (SilenceForm) and the active silences
// (with a remove button), the channels and how they are doing, and the history (AlertHistory). It
// routes the stream's `alert` messages to the history, and loads everything again after a
// reconnect (what the stream missed). Silences and channels change without a stream message (a
// silence made elsewhere, a send that failed): they are loaded again every few seconds while
// alerts change, and every half minute anyway.

import { channelTable } from './alert-channels.js';
import { AlertHistory } from './alert-history.js';
import { AlertList } from './alert-list.js';
import { getJson } from './api.js';
import { h } from './dom.js';
import { SilenceForm } from './silence-form.js';
import { silenceTable } from './silence-list.js';

const RELOAD_MIN_MS = 3000;
const RELOAD_EVERY_MS = 30_000;

export class AlertsPage {
  #model;
  #root;
  #list;
  #form;
  #silences;
  #channels;
  #history;
  #unsubscribe = [];
  #reloadTimer;
  #ticker;
  #lastReload = 0;
  #alive = true;

  /** alerts: the dashboard's OpenAlerts. */
  constructor(model, alerts) {
    this.#model = model;
    this.#form = new SilenceForm({ onCreated: () => void this.#silences.load() });
    this.#list = new AlertList(model, alerts, { onSilence: (alert) => this.#form.fill(alert) });
    this.#silences = silenceTable(model);
    this.#channels = channelTable();
    this.#history = new AlertHistory(model);
    this.#root = h(
      'section',
      { class: 'page alerts-page' },
      h('h1', { tabindex: '-1', text: 'Alerts' }),
      this.#list.element,
      h('div', { class: 'alerts-silences' }, this.#form.element, this.#silences.element),
      this.#channels.element,
      this.#history.element,
    );
  }

  get element() {
    return this.#root;
  }

  mount() {
    document.title = 'Alerts · picluster';
    this.#unsubscribe.push(
      this.#model.onAlert((alert) => {
        this.#history.addLive(alert);
        this.#reloadSoon();
      }),
      this.#model.subscribe((ids, kind) => {
        if (ids === null) {
          // Resynced after a reconnect (or the first snapshot): fill the gap.
          void this.#history.load();
          this.#reload();
        }
        if (kind === 'vitals') return; // names change only with node messages
        this.#form.setNodes(this.#model.nodes.values());
        this.#list.refresh();
        this.#history.refresh();
        this.#silences.refresh();
      }),
    );
    this.#form.setNodes(this.#model.nodes.values());
    this.#list.mount();
    void this.#history.load();
    void this.#loadRules();
    this.#reload();
    this.#ticker = setInterval(() => this.#reload(), RELOAD_EVERY_MS);
  }

  unmount() {
    this.#alive = false;
    for (const off of this.#unsubscribe) off();
    clearTimeout(this.#reloadTimer);
    clearInterval(this.#ticker);
    this.#list.unmount();
    this.#history.stop();
    this.#silences.stop();
    this.#channels.stop();
  }

  /** The silences and channels again. */
  #reload() {
    this.#lastReload = Date.now();
    void this.#silences.load();
    void this.#channels.load();
  }

  /** An alert changed (a notification may have gone out): reload, at most every few seconds. */
  #reloadSoon() {
    if (this.#reloadTimer) return;
    const wait = Math.max(0, this.#lastReload + RELOAD_MIN_MS - Date.now());
    this.#reloadTimer = setTimeout(() => {
      this.#reloadTimer = undefined;
      this.#reload();
    }, wait);
  }

  /** The rules the silence form offers. */
  async #loadRules() {
    try {
      const { body } = await getJson('/api/alerts/rules');
      if (!this.#alive) return;
      const rules = Array.isArray(body?.rules) ? body.rules : [];
      this.#form.setRules(rules.map((r) => r?.name).filter((name) => typeof name === 'string'));
    } catch (err) {
      // The form still takes a node or labels (and an alert's rule when "Silence" fills it).
      console.debug('alert rules not loaded:', err.message);
    }
  }
}
