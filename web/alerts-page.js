// The alerts page (#/alerts): the open alerts (AlertList, live from OpenAlerts) with a "Silence"
// button on each firing one, the form that makes a silence (SilenceForm) and the active silences
// (with a remove button), the rules (with the form that makes or changes one, RuleForm), the
// channels and how they are doing, and the history (AlertHistory). It routes the stream's `alert`
// messages to the history, and loads everything again after a reconnect (what the stream missed).
// Silences and channels change without a stream message (a silence made elsewhere, a send that
// failed): they are loaded again every few seconds while alerts change, and every half minute
// anyway; the rules after a change made here, and every half minute. The rules loaded feed the
// silence form's choice of rule, the channels loaded the rule form's.

import { channelTable } from './alert-channels.js';
import { AlertHistory } from './alert-history.js';
import { AlertList } from './alert-list.js';
import { h } from './dom.js';
import { RuleForm } from './rule-form.js';
import { ruleTable } from './rule-list.js';
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
  #rules;
  #channels;
  #history;
  #unsubscribe = [];
  #reloadTimer;
  #ticker;
  #lastReload = 0;

  /** alerts: the dashboard's OpenAlerts. */
  constructor(model, alerts) {
    this.#model = model;
    this.#form = new SilenceForm({ onCreated: () => void this.#silences.load() });
    this.#list = new AlertList(model, alerts, { onSilence: (alert) => this.#form.fill(alert) });
    this.#silences = silenceTable(model);
    const ruleForm = new RuleForm({ onSaved: () => void this.#rules.load() });
    this.#rules = ruleTable({
      onEdit: (rule) => ruleForm.edit(rule),
      onLoad: (rules) => this.#form.setRules(namesOf(rules)),
      below: ruleForm.element,
    });
    this.#channels = channelTable({
      onLoad: (channels) => ruleForm.setChannels(namesOf(channels)),
    });
    this.#history = new AlertHistory(model);
    this.#root = h(
      'section',
      { class: 'page alerts-page' },
      h('h1', { tabindex: '-1', text: 'Alerts' }),
      this.#list.element,
      h('div', { class: 'alerts-silences' }, this.#form.element, this.#silences.element),
      this.#rules.element,
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
          void this.#rules.load();
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
    void this.#rules.load();
    this.#reload();
    this.#ticker = setInterval(() => {
      this.#reload();
      void this.#rules.load();
    }, RELOAD_EVERY_MS);
  }

  unmount() {
    for (const off of this.#unsubscribe) off();
    clearTimeout(this.#reloadTimer);
    clearInterval(this.#ticker);
    this.#list.unmount();
    this.#history.stop();
    this.#silences.stop();
    this.#rules.stop();
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
}

/** The names of a list the API gave (rules, channels), those that are strings. */
function namesOf(list) {
  return list.map((item) => item.name).filter((name) => typeof name === 'string');
}
