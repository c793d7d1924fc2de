// What the alerts views share: an alert's state and severity badges, its rule and node, its
// detail and marks (silenced, flapping) as table cells, and the firing-alerts badge on a node's row
// and page. An alert's fields come from nodes and config files: they only ever become text.

import { h, safeClass } from './dom.js';
import * as fmt from './format.js';

export const ALERT_STATES = ['pending', 'firing', 'resolved'];

/** A coloured badge for an alert's state. */
export function alertStateBadge(state) {
  return h('span', { class: `badge alert-state alert-${safeClass(state)}`, text: String(state ?? '?') });
}

/** The severity as a small coloured label. */
export function severityLabel(severity) {
  return h('span', { class: `severity sev-${safeClass(severity)}`, text: String(severity ?? '') });
}

/** The rule and what on the node it is about ("disk-low /boot"). */
export function ruleText(alert) {
  return alert.subject ? `${alert.rule} ${alert.subject}` : String(alert.rule ?? '');
}

/** The alert's node's name: its current one, else the one it had when the alert was made. */
export function alertNodeName(model, alert) {
  return model.nodes.get(alert.node)?.name || alert.nodeName || alert.node;
}

/** The alert's node, by name, linking to its page. */
export function alertNodeLink(model, alert) {
  return h('a', {
    href: `#/node/${encodeURIComponent(alert.node)}`,
    title: alert.node,
    text: alertNodeName(model, alert),
  });
}

/** What was measured: the detail the primary wrote, or the value against its threshold. */
export function detailText(alert) {
  if (alert.detail) return String(alert.detail);
  if (typeof alert.value !== 'number') return '';
  return typeof alert.threshold === 'number' ? `${alert.value} (threshold ${alert.threshold})` : String(alert.value);
}

/** "silenced" and "flapping" chips, as they apply. */
export function alertMarks(alert) {
  return [
    alert.silenced ? h('span', { class: 'chip mark mark-silenced', text: 'silenced' }) : null,
    alert.flapping
      ? h('span', { class: 'chip mark mark-flapping', title: 'fired and cleared repeatedly', text: 'flapping' })
      : null,
  ];
}

/** The cells every alerts table starts with: state, severity, rule, node, detail (with marks). */
export function alertCells(model, alert) {
  return [
    h('td', null, alertStateBadge(alert.state)),
    h('td', null, severityLabel(alert.severity)),
    h('td', { class: 'rule', text: ruleText(alert) }),
    h('td', null, alertNodeLink(model, alert)),
    h('td', { class: 'detail' }, detailText(alert), ' ', alertMarks(alert)),
  ];
}

/** A relative time ("3 min ago") in a <time> with the full time as its title. */
export function agoEl(ms, now) {
  return h('time', { datetime: fmt.iso(ms), title: fmt.full(ms), text: fmt.ago(now - ms) });
}

/** An empty firing-alerts badge (showAlertBadge fills it): a span in rows, a link on a node page. */
export function alertBadge(tag = 'span', attrs = {}) {
  return h(tag, { class: 'alert-badge', 'data-testid': 'alert-badge', hidden: true, dataset: { key: '' }, ...attrs });
}

/**
 * Shows a node's firing alerts on its badge: their count, the worst severity as its colour, the
 * rules in its title; hidden when there are none. Writes the DOM only when they changed.
 */
export function showAlertBadge(el, firing) {
  const key = firing.map((a) => `${ruleText(a)}\0${a.severity}`).join('\n');
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  el.hidden = firing.length === 0;
  if (firing.length === 0) return;
  el.dataset.severity = firing.some((a) => a.severity === 'critical') ? 'critical' : 'warning';
  el.dataset.count = String(firing.length);
  el.textContent = `${firing.length} firing`;
  el.title = `Firing: ${firing.map((a) => `${ruleText(a)} (${a.severity})`).join(', ')}`;
}
