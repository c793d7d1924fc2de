// One node's row in the overview (a card on a phone): name, firing alerts and labels, state, CPU
// and RAM with meters, temperature with a throttling warning, load, uptime, last seen and the
// node's picluster version. Built for 1,000 rows: each is a deep clone of one template, and each
// keeps the strings it shows (`last`) so an update writes the DOM only where one changed.

import { alertBadge, showAlertBadge } from './alert-format.js';
import { h, labelChips, safeClass, setText } from './dom.js';
import * as fmt from './format.js';
import { COLUMN, nodeVersion } from './overview-columns.js';

export class NodeRow {
  /** A row for `node`, cloned from buildRowTemplate()'s (a native deep clone beats building 25 elements). */
  constructor(template, node) {
    const el = template.cloneNode(true);
    const [name, state, cpu, ram, temp, load, uptime, seen, version] = el.children;
    el.dataset.id = node.id;
    this.el = el;
    this.link = name.firstChild;
    this.alerts = name.children[1];
    this.labels = name.lastChild;
    this.badge = state.firstChild;
    this.cpu = cpu.firstChild;
    this.cpuFill = cpu.lastChild.firstChild;
    this.ram = ram.firstChild;
    this.ramFill = ram.lastChild.firstChild;
    this.temp = temp.firstChild;
    this.warn = temp.lastChild;
    this.load = load.firstChild;
    this.uptime = uptime.firstChild;
    this.seen = seen.firstChild;
    this.version = version.firstChild;
    this.last = {}; // what the DOM shows
  }

  /** Writes what changed; `firing`: the node's firing alerts (OpenAlerts.firingOn). */
  update(node, now, firing = []) {
    const last = this.last;
    showAlertBadge(this.alerts, firing);
    const v = node.vitals;
    if (last.name !== node.name || last.id !== node.id) {
      last.name = node.name;
      last.id = node.id;
      this.link.textContent = node.name || node.id;
      this.link.href = `#/node/${encodeURIComponent(node.id)}`;
      this.link.title = node.id;
    }
    const labelsKey = JSON.stringify(node.labels ?? {});
    if (last.labels !== labelsKey) {
      last.labels = labelsKey;
      this.labels.replaceChildren(...labelChips(node.labels, 3));
    }
    if (last.state !== node.state) {
      last.state = node.state;
      this.el.dataset.state = safeClass(node.state);
      this.badge.className = `badge state-${safeClass(node.state)}`;
      this.badge.textContent = node.state;
    }
    const cpu = v?.cpuPercent;
    setText(this.cpu, fmt.percent(cpu));
    this.#meter('cpuFill', cpu);
    const ram = fmt.ramUsedPercent(node);
    setText(this.ram, fmt.percent(ram));
    this.#meter('ramFill', ram);
    if (this.ram.title !== '' || ram !== undefined) {
      const title =
        ram === undefined ? '' : `${fmt.bytes(v.ramAvailableBytes)} available of ${fmt.bytes(node.info.ramTotalBytes)}`;
      if (this.ram.title !== title) this.ram.title = title;
    }
    const t = v?.tempC;
    setText(this.temp, fmt.temp(t));
    const heat = typeof t !== 'number' ? '' : t >= 80 ? 'hot' : t >= 70 ? 'warm' : '';
    if (last.heat !== heat) {
      last.heat = heat;
      this.temp.dataset.heat = heat;
    }
    const throttled = v?.throttled?.now?.length ? v.throttled.now.join(', ') : '';
    if (last.throttled !== throttled) {
      last.throttled = throttled;
      this.warn.hidden = throttled === '';
      this.warn.title = throttled ? `throttled now: ${throttled}` : '';
      this.warn.setAttribute('aria-label', this.warn.title);
    }
    setText(this.load, v ? `${fmt.load(v.load1)} ${fmt.load(v.load5)} ${fmt.load(v.load15)}` : fmt.NONE);
    setText(this.uptime, fmt.duration(v?.uptimeS));
    const version = nodeVersion(node);
    const versionTitle = version
      ? `picluster ${version}`
      : node.legacy
        ? 'legacy protocol: the node sends no version'
        : 'version not reported yet';
    if (last.versionTitle !== versionTitle) {
      last.versionTitle = versionTitle;
      this.version.textContent = version ?? fmt.NONE;
      this.version.title = versionTitle;
    }
    this.updateSeen(node, now);
  }

  /** The "last seen" cell alone: the page ticks it every second. */
  updateSeen(node, now) {
    const seenAt = Math.max(node.lastSeen ?? 0, node.vitals?.receivedAt ?? 0) || undefined;
    setText(this.seen, seenAt ? fmt.ago(now - seenAt) : fmt.NONE);
    if (this.last.seenAt !== seenAt) {
      this.last.seenAt = seenAt;
      this.seen.dateTime = fmt.iso(seenAt);
      this.seen.title = fmt.full(seenAt);
    }
  }

  /** `key` is 'cpuFill' or 'ramFill'; the width is cached in `last` under the same key. */
  #meter(key, value) {
    const w = typeof value === 'number' ? Math.round(value) : 0;
    if (this.last[key] === w) return;
    this.last[key] = w;
    this[key].style.width = `${w}%`;
    this[key].dataset.level = w >= 90 ? 'high' : w >= 70 ? 'mid' : '';
  }
}

/** The elements of one node row, empty (NodeRow's constructor and update say what goes where). */
export function buildRowTemplate() {
  const cell = (key, ...children) =>
    h('div', { role: 'cell', class: `c-${key}`, dataset: { label: COLUMN[key].label } }, ...children);
  const meter = () => h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { class: 'fill' }));
  return h(
    'div',
    { role: 'row', class: 'row node' },
    h(
      'div',
      { role: 'cell', class: 'c-name' },
      h('a', { class: 'name-link' }),
      alertBadge(),
      h('span', { class: 'labels' }),
    ),
    cell('state', h('span', { class: 'badge' })),
    cell('cpu', h('span', { class: 'num' }), meter()),
    cell('ram', h('span', { class: 'num' }), meter()),
    cell('temp', h('span', { class: 'num' }), h('span', { class: 'warn', hidden: true, text: '⚠' })),
    cell('load', h('span', { class: 'num' })),
    cell('uptime', h('span', { class: 'num' })),
    cell('seen', h('time')),
    cell('version', h('span', { class: 'version' })),
  );
}
