// The dashboard's entry point: one ClusterModel, one live link, and a hash router over three
// pages — #/ (overview; kept alive while hidden so going back is instant), #/node/ID and
// #/events. It also owns the connection banner: shown when the primary has been unreachable for a
// second, replaced by "reconnected" for a moment once the stream is back.

import { ClusterModel } from './cluster-model.js';
import { h, setText } from './dom.js';
import { EventsPage } from './events.js';
import { Live } from './live.js';
import { NodePage } from './node-page.js';
import { Overview } from './overview.js';

const BANNER_DELAY_MS = 1000;

const model = new ClusterModel();
const main = document.getElementById('main');
const overview = new Overview(model);
main.append(overview.element);
let page; // the mounted non-overview page
let firstRoute = true;

function parseHash() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  const node = /^\/node\/([^/]+)$/.exec(path);
  if (node) {
    let id;
    try {
      id = decodeURIComponent(node[1]);
    } catch {
      id = node[1];
    }
    return { name: 'node', id, range: params.get('range') ?? '1h' };
  }
  if (path === '/events') return { name: 'events', node: params.get('node') ?? '' };
  return { name: 'overview' };
}

let current = '';

function route() {
  // Not a route (an old bookmark, a stray anchor): leave the page as it is.
  if (location.hash && !location.hash.startsWith('#/') && current) return;
  const r = parseHash();
  const key = r.name === 'node' ? `node:${r.id}` : r.name === 'events' ? `events:${r.node}` : 'overview';
  if (key === current) {
    // Only the query changed (back/forward, an edited URL): the overview re-reads it.
    if (r.name === 'overview') overview.show();
    return;
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
    page = r.name === 'node' ? new NodePage(model, r.id, r.range) : new EventsPage(model, r.node);
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
