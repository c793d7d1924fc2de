// The dashboard's entry point: one ClusterModel, its OpenAlerts, one live link, and a hash router
// over five pages — #/ (overview; kept alive while hidden so going back is instant), #/node/ID,
// #/events, #/tasks (#/tasks/ID opens a task in it without building the page again) and #/alerts.
// It also owns the header's count of firing alerts, and the connection banner: shown when the
// primary has been unreachable for a second, replaced by "reconnected" for a moment once the
// stream is back.

import { AlertsPage } from './alerts-page.js';
import { ClusterModel } from './cluster-model.js';
import { frameTask, h, setText } from './dom.js';
import { EventsPage } from './events.js';
import { watchLeadership } from './leadership.js';
import { Live } from './live.js';
import { NodePage } from './node-page.js';
import { OpenAlerts } from './open-alerts.js';
import { Overview } from './overview.js';
import { TasksPage } from './tasks-page.js';

const BANNER_DELAY_MS = 1000;

const model = new ClusterModel();
const alerts = new OpenAlerts(model);
const main = document.getElementById('main');
const overview = new Overview(model, alerts);
main.append(overview.element);
let page; // the mounted non-overview page
let firstRoute = true;

/** A path segment decoded (as it is when the decoding fails); undefined stays undefined. */
function decodeSegment(segment) {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function parseHash() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  const node = /^\/node\/([^/]+)$/.exec(path);
  if (node) {
    return { name: 'node', id: decodeSegment(node[1]), range: params.get('range') ?? '1h' };
  }
  if (path === '/events') return { name: 'events', node: params.get('node') ?? '' };
  if (path === '/alerts') return { name: 'alerts' };
  const tasks = /^\/tasks(?:\/([^/]+))?$/.exec(path);
  if (tasks) {
    return {
      name: 'tasks',
      id: decodeSegment(tasks[1]),
      node: params.get('node') ?? '',
      state: params.get('state') ?? '',
    };
  }
  return { name: 'overview' };
}

let current = '';

function route() {
  // Not a route (an old bookmark, a stray anchor): leave the page as it is.
  if (location.hash && !location.hash.startsWith('#/') && current) return;
  const r = parseHash();
  const key =
    r.name === 'node'
      ? `node:${r.id}`
      : r.name === 'events'
        ? `events:${r.node}`
        : r.name === 'tasks' || r.name === 'alerts'
          ? r.name
          : 'overview';
  if (key === current) {
    // Only the query changed (back/forward, an edited URL): the overview re-reads it; the tasks
    // page opens another task in place, or is built again for other filters.
    if (r.name === 'overview') overview.show();
    if (r.name !== 'tasks' || page.route(r)) return;
  }
  current = key;
  if (page) {
    page.unmount();
    page.element.remove();
    page = undefined;
  }
  if (r.name === 'overview') {
    overview.show();
    document.title = 'picluster';
  } else {
    overview.hide();
    if (r.name === 'node') page = new NodePage(model, r.id, r.range, alerts);
    else if (r.name === 'tasks') page = new TasksPage(model, r);
    else if (r.name === 'alerts') page = new AlertsPage(model, alerts);
    else page = new EventsPage(model, r.node);
    if (r.name === 'events') document.title = 'Events · picluster';
    main.append(page.element);
    page.mount();
  }
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === r.name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.dataset.page = r.name;
  // Move focus to the new page's heading (not on first load: the user has not navigated yet).
  if (!firstRoute) {
    const heading = main.querySelector('.page:not([hidden]) h1');
    heading?.focus({ preventScroll: true });
    scrollTo(0, 0);
  }
  firstRoute = false;
}

// --- the header's count of firing alerts (on the Alerts link)

const alertsLink = document.querySelector('[data-nav="alerts"]');
const alertsCount = alertsLink?.querySelector('[data-testid="alerts-count"]');
const countFrame = frameTask(() => {
  const n = alerts.firingCount;
  alertsCount.hidden = n === 0;
  alertsCount.dataset.severity = alerts.list().some((a) => a.state === 'firing' && a.severity === 'critical')
    ? 'critical'
    : 'warning';
  setText(alertsCount, String(n));
  alertsLink.setAttribute('aria-label', n === 0 ? 'Alerts' : `Alerts, ${n} firing`);
});
if (alertsCount) alerts.subscribe(() => countFrame.request());

// --- the connection banner and indicator

const banner = document.getElementById('banner');
const conn = document.getElementById('conn');
let downSince = 0;
let bannerTimer;
let bannerTicker;
let hideTimer;

function showDown() {
  const seconds = Math.round((Date.now() - downSince) / 1000);
  banner.dataset.kind = 'down';
  banner.replaceChildren(
    h('strong', { text: 'The primary is not reachable.' }),
    ` Retrying by itself — the page updates again once it is back (down for ${seconds} s).`,
  );
  banner.hidden = false;
}

function onStatus(status) {
  document.body.dataset.connection = status;
  setText(
    conn.querySelector('.conn-text'),
    status === 'live' ? 'live' : status === 'down' ? 'reconnecting…' : 'connecting…',
  );
  clearTimeout(bannerTimer);
  clearInterval(bannerTicker);
  clearTimeout(hideTimer);
  if (status === 'down') {
    downSince = Date.now();
    bannerTimer = setTimeout(() => {
      showDown();
      bannerTicker = setInterval(showDown, 1000);
    }, BANNER_DELAY_MS);
  } else if (status === 'live' && !banner.hidden) {
    banner.dataset.kind = 'ok';
    banner.replaceChildren(h('strong', { text: 'Reconnected.' }), ' Live updates are back.');
    hideTimer = setTimeout(() => {
      banner.hidden = true;
    }, 2500);
  }
}

// The skip link focuses the content without touching the hash (the router owns it).
document.querySelector('.skip')?.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

const live = new Live(model, onStatus);
addEventListener('hashchange', route);
route();
live.start();
watchLeadership(document.getElementById('ha-banner'));
