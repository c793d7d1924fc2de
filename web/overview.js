// The cluster overview: totals, then every node as a row (a card on a phone) with name, labels,
// state, CPU, RAM, temperature, load, uptime and last seen; sorted and filtered by name, label
// and state (kept in the URL so a reload keeps them). Built for 1,000 nodes: each row keeps the
// strings it shows and writes the DOM only where one changed; changes are collected and applied
// once per animation frame; rows are re-ordered only when the sort key can have moved; rows off
// screen skip layout (content-visibility in app.css).

import { h, labelChips, safeClass, setText } from './dom.js';
import * as fmt from './format.js';

const STATES = ['online', 'lost', 'left'];
const STATE_RANK = { online: 0, lost: 1, left: 2 };

/** Sortable columns: label, value getter (undefined sorts last) and whether vitals move it. */
const COLUMNS = [
  { key: 'name', label: 'Name', get: (n) => n.name, live: false },
  { key: 'state', label: 'State', get: (n) => STATE_RANK[n.state] ?? 9, live: false },
  { key: 'cpu', label: 'CPU', get: (n) => n.vitals?.cpuPercent, live: true },
  { key: 'ram', label: 'RAM used', get: (n) => fmt.ramUsedPercent(n), live: true },
  { key: 'temp', label: 'Temp', get: (n) => n.vitals?.tempC, live: true },
  { key: 'load', label: 'Load 1/5/15', get: (n) => n.vitals?.load1, live: true },
  { key: 'uptime', label: 'Uptime', get: (n) => n.vitals?.uptimeS, live: true },
  { key: 'seen', label: 'Last seen', get: (n) => n.lastSeen, live: true },
];
const COLUMN = Object.fromEntries(COLUMNS.map((c) => [c.key, c]));
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Filter text → predicate. Tokens (all must match): `k=v` label k contains v, `k=` has label k, else substring of name/id/hostname/address/labels. */
export function parseFilter(text) {
  const tokens = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) return () => true;
  return (node) =>
    tokens.every((token) => {
      const eq = token.indexOf('=');
      const labels = Object.entries(node.labels ?? {});
      if (eq > 0) {
        const key = token.slice(0, eq);
        const value = token.slice(eq + 1);
        return labels.some(([k, v]) => k.toLowerCase() === key && String(v).toLowerCase().includes(value));
      }
      const hay = [node.name, node.id, node.info?.hostname, node.address, ...labels.map(([k, v]) => `${k}=${v}`)];
      return hay.some((s) => typeof s === 'string' && s.toLowerCase().includes(token));
    });
}

function readQuery() {
  const q = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const sort = q.get('sort') ?? 'name';
  const desc = sort.startsWith('-');
  const key = desc ? sort.slice(1) : sort;
  return {
    text: q.get('q') ?? '',
    state: STATES.includes(q.get('state')) ? q.get('state') : '',
    sortKey: COLUMN[key] ? key : 'name',
    desc,
  };
}

export class Overview {
  #model;
  #root;
  #body;
  #rows = new Map(); // id → row
  #dirty = new Set();
  #all = true;
  #reorder = true;
  #frame = 0;
  #visible = false;
  #view = readQuery();
  #predicate = parseFilter(this.#view.text);
  #els = {};
  #firstRender = true;
  #rowTemplate;
  #shown = 0;

  constructor(model) {
    this.#model = model;
    this.#root = this.#build();
    model.subscribe((ids, kind) => this.#onChange(ids, kind));
    setInterval(() => this.#tick(), 1000);
  }

  get element() {
    return this.#root;
  }

  /** Shows the page (its rows were kept up to date in memory while hidden). */
  show() {
    // "#/" alone (the Nodes link) keeps the sort and filter last used; a query sets them.
    if (location.hash.includes('?')) {
      this.#view = readQuery();
      this.#predicate = parseFilter(this.#view.text);
    } else {
      this.#writeUrl();
    }
    this.#els.filter.value = this.#view.text;
    this.#els.state.value = this.#view.state;
    this.#els.sort.value = `${this.#view.desc ? '-' : ''}${this.#view.sortKey}`;
    this.#visible = true;
    this.#root.hidden = false;
    this.#all = true;
    this.#reorder = true;
    this.#schedule();
    this.#flush(); // at once, not a frame later: the page is never shown stale
  }

  hide() {
    this.#visible = false;
    this.#root.hidden = true;
  }

  #build() {
    const filter = h('input', {
      type: 'search',
      id: 'filter',
      placeholder: 'Filter: name, id, label (rack=1)…',
      'aria-label': 'Filter nodes by name, id or label',
      autocomplete: 'off',
      spellcheck: 'false',
      oninput: () => this.#setView({ text: filter.value }),
    });
    const state = h(
      'select',
      { id: 'state-filter', 'aria-label': 'Filter by state', onchange: () => this.#setView({ state: state.value }) },
      h('option', { value: '', text: 'All states' }),
      STATES.map((s) => h('option', { value: s, text: s })),
    );
    const sort = h(
      'select',
      {
        id: 'sort',
        class: 'sort-select',
        'aria-label': 'Sort by',
        onchange: () => {
          const desc = sort.value.startsWith('-');
          this.#setView({ sortKey: desc ? sort.value.slice(1) : sort.value, desc });
        },
      },
      COLUMNS.flatMap((c) => [
        h('option', { value: c.key, text: `${c.label} ↑` }),
        h('option', { value: `-${c.key}`, text: `${c.label} ↓` }),
      ]),
    );
    const count = h('span', { class: 'count', 'aria-live': 'polite' });
    const totals = h('div', { class: 'totals', role: 'group', 'aria-label': 'Totals' });
    const tiles = {
      nodes: this.#tile(totals, 'Nodes', 'nodes', ''),
      online: this.#tile(totals, 'Online', 'online', 'online'),
      lost: this.#tile(totals, 'Lost', 'lost', 'lost'),
      left: this.#tile(totals, 'Left', 'left', 'left'),
      cpu: this.#tile(totals, 'CPU (avg)', 'cpu'),
      ram: this.#tile(totals, 'RAM used', 'ram'),
      temp: this.#tile(totals, 'Hottest', 'temp'),
      cores: this.#tile(totals, 'CPU cores', 'cores'),
    };
    const head = h(
      'div',
      { role: 'rowgroup', class: 'thead' },
      h(
        'div',
        { role: 'row', class: 'row head' },
        COLUMNS.map((c) => {
          const button = h(
            'button',
            { type: 'button', class: 'sort', dataset: { key: c.key }, onclick: () => this.#toggleSort(c.key) },
            c.label,
            h('span', { class: 'arrow', 'aria-hidden': 'true' }),
          );
          return h('div', { role: 'columnheader', class: `c-${c.key}`, dataset: { key: c.key } }, button);
        }),
      ),
    );
    this.#body = h('div', { role: 'rowgroup', class: 'tbody' });
    const table = h(
      'div',
      { role: 'table', class: 'nodes', 'aria-label': 'Nodes', 'aria-rowcount': '0' },
      head,
      this.#body,
    );
    const empty = h('p', { class: 'empty', hidden: true });
    this.#els = { filter, state, sort, count, tiles, table, head, empty };
    addEventListener('keydown', (e) => {
      // "/" jumps to the filter, as on many sites.
      if (e.key === '/' && this.#visible && !(e.target instanceof HTMLInputElement) && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        filter.focus();
      }
    });
    return h(
      'section',
      { id: 'overview', class: 'page overview', 'aria-labelledby': 'overview-title', hidden: true },
      h('h1', { id: 'overview-title', tabindex: '-1', text: 'Nodes' }),
      totals,
      h('div', { class: 'toolbar' }, filter, state, sort, count),
      table,
      empty,
    );
  }

  #tile(parent, label, key, state) {
    const value = h('span', { class: 'value', text: fmt.NONE });
    const sub = h('span', { class: 'sub' });
    const content = [h('span', { class: 'label', text: label }), value, sub];
    const tile =
      state === undefined
        ? h('div', { class: `tile t-${key}` }, content)
        : h(
            'button',
            {
              type: 'button',
              class: `tile t-${key}`,
              'aria-pressed': state ? 'false' : null,
              title: state ? `Show only ${state} nodes` : 'Show all nodes',
              onclick: () => this.#setView({ state: this.#view.state === state ? '' : state }),
            },
            content,
          );
    parent.append(tile);
    return { tile, value, sub, state };
  }

  #toggleSort(key) {
    const desc = this.#view.sortKey === key ? !this.#view.desc : COLUMN[key].live; // numbers: biggest first
    this.#setView({ sortKey: key, desc });
  }

  #setView(change) {
    this.#view = { ...this.#view, ...change };
    this.#predicate = parseFilter(this.#view.text);
    this.#els.state.value = this.#view.state;
    this.#els.sort.value = `${this.#view.desc ? '-' : ''}${this.#view.sortKey}`;
    this.#writeUrl();
    this.#reorder = true;
    this.#schedule();
  }

  /** The view into the URL, without a history entry per keystroke. */
  #writeUrl() {
    const q = new URLSearchParams();
    if (this.#view.text) q.set('q', this.#view.text);
    if (this.#view.state) q.set('state', this.#view.state);
    if (this.#view.sortKey !== 'name' || this.#view.desc)
      q.set('sort', `${this.#view.desc ? '-' : ''}${this.#view.sortKey}`);
    const query = q.toString();
    if (query) history.replaceState(null, '', `#/?${query}`);
    else if (location.hash.includes('?')) history.replaceState(null, '', '#/');
  }

  #onChange(ids, kind) {
    if (ids === null) {
      this.#all = true;
      this.#reorder = true;
    } else {
      for (const id of ids) this.#dirty.add(id);
      if (kind === 'node' || COLUMN[this.#view.sortKey].live) this.#reorder = true;
    }
    this.#schedule();
  }

  #schedule() {
    if (this.#frame || !this.#visible) return;
    this.#frame = requestAnimationFrame(() => this.#flush());
  }

  /** Applies every change collected since the last frame. */
  #flush() {
    if (this.#frame) cancelAnimationFrame(this.#frame);
    this.#frame = 0;
    if (!this.#visible) return;
    const started = performance.now();
    const model = this.#model;
    const now = model.now();
    const all = this.#all;
    const ids = all ? model.nodes.keys() : this.#dirty;
    let updated = 0;
    for (const id of ids) {
      const node = model.nodes.get(id);
      if (!node) continue;
      let row = this.#rows.get(id);
      if (!row) {
        row = this.#createRow(node);
        this.#rows.set(id, row);
      }
      this.#updateRow(row, node, now);
      updated++;
    }
    if (all) {
      for (const [id, row] of this.#rows) {
        if (!model.nodes.has(id)) {
          row.el.remove();
          this.#rows.delete(id);
        }
      }
    }
    const vitalsFlush = !all && model.vitalsArrivedAt > 0;
    this.#dirty.clear();
    this.#all = false;
    if (this.#reorder) this.#applyOrder();
    this.#reorder = false;
    this.#updateTotals();
    this.#updateHeader();
    const ended = performance.now();
    // Measurements for bench/dashboard.ts (and anyone with the devtools open).
    if (model.loaded && this.#firstRender && this.#rows.size === model.nodes.size) {
      this.#firstRender = false;
      performance.mark('picluster:overview-rendered', { detail: { rows: this.#shown } });
      requestAnimationFrame(() =>
        setTimeout(() => performance.mark('picluster:overview-painted', { detail: { rows: this.#shown } })),
      );
    }
    if (vitalsFlush) {
      const arrived = model.vitalsArrivedAt;
      model.vitalsArrivedAt = 0;
      // Only the latest of each is kept: a timeline entry every second would grow all day.
      for (const name of ['applied', 'flush', 'painted']) performance.clearMeasures(`picluster:vitals-${name}`);
      performance.measure('picluster:vitals-applied', { start: arrived, end: ended, detail: { rows: updated } });
      performance.measure('picluster:vitals-flush', { start: started, end: ended, detail: { rows: updated } });
      requestAnimationFrame(() =>
        setTimeout(() =>
          // (a later message may have cleared it meanwhile: then this one's is the latest anyway)
          performance.measure('picluster:vitals-painted', {
            start: arrived,
            end: performance.now(),
            detail: { rows: updated },
          }),
        ),
      );
    }
  }

  /** One row, cloned from a template built once (a native deep clone beats building 25 elements). */
  #createRow(node) {
    this.#rowTemplate ??= buildRowTemplate();
    const el = this.#rowTemplate.cloneNode(true);
    const [name, state, cpu, ram, temp, load, uptime, seen] = el.children;
    el.dataset.id = node.id;
    return {
      el,
      link: name.firstChild,
      labels: name.lastChild,
      badge: state.firstChild,
      cpu: cpu.firstChild,
      cpuFill: cpu.lastChild.firstChild,
      ram: ram.firstChild,
      ramFill: ram.lastChild.firstChild,
      temp: temp.firstChild,
      warn: temp.lastChild,
      load: load.firstChild,
      uptime: uptime.firstChild,
      seen: seen.firstChild,
      last: {},
    };
  }

  /** Writes what changed in one row; `row.last` caches what the DOM shows. */
  #updateRow(row, node, now) {
    const last = row.last;
    const v = node.vitals;
    if (last.name !== node.name || last.id !== node.id) {
      last.name = node.name;
      last.id = node.id;
      row.link.textContent = node.name || node.id;
      row.link.href = `#/node/${encodeURIComponent(node.id)}`;
      row.link.title = node.id;
    }
    const labelsKey = JSON.stringify(node.labels ?? {});
    if (last.labels !== labelsKey) {
      last.labels = labelsKey;
      row.labels.replaceChildren(...labelChips(node.labels, 3));
    }
    if (last.state !== node.state) {
      last.state = node.state;
      row.el.dataset.state = safeClass(node.state);
      row.badge.className = `badge state-${safeClass(node.state)}`;
      row.badge.textContent = node.state;
    }
    const cpu = v?.cpuPercent;
    setText(row.cpu, fmt.percent(cpu));
    this.#meter(row, 'cpuFill', cpu);
    const ram = fmt.ramUsedPercent(node);
    setText(row.ram, fmt.percent(ram));
    this.#meter(row, 'ramFill', ram);
    if (row.ram.title !== '' || ram !== undefined) {
      const title =
        ram === undefined ? '' : `${fmt.bytes(v.ramAvailableBytes)} available of ${fmt.bytes(node.info.ramTotalBytes)}`;
      if (row.ram.title !== title) row.ram.title = title;
    }
    const t = v?.tempC;
    setText(row.temp, fmt.temp(t));
    const heat = typeof t !== 'number' ? '' : t >= 80 ? 'hot' : t >= 70 ? 'warm' : '';
    if (last.heat !== heat) {
      last.heat = heat;
      row.temp.dataset.heat = heat;
    }
    const throttled = v?.throttled?.now?.length ? v.throttled.now.join(', ') : '';
    if (last.throttled !== throttled) {
      last.throttled = throttled;
      row.warn.hidden = throttled === '';
      row.warn.title = throttled ? `throttled now: ${throttled}` : '';
      row.warn.setAttribute('aria-label', row.warn.title);
    }
    setText(row.load, v ? `${fmt.load(v.load1)} ${fmt.load(v.load5)} ${fmt.load(v.load15)}` : fmt.NONE);
    setText(row.uptime, fmt.duration(v?.uptimeS));
    this.#seen(row, node, now);
  }

  #meter(row, key, value) {
    const w = typeof value === 'number' ? Math.round(value) : 0;
    if (row.last[key] === w) return;
    row.last[key] = w;
    row[key].style.width = `${w}%`;
    row[key].dataset.level = w >= 90 ? 'high' : w >= 70 ? 'mid' : '';
  }

  #seen(row, node, now) {
    const seenAt = Math.max(node.lastSeen ?? 0, node.vitals?.receivedAt ?? 0) || undefined;
    setText(row.seen, seenAt ? fmt.ago(now - seenAt) : fmt.NONE);
    if (row.last.seenAt !== seenAt) {
      row.last.seenAt = seenAt;
      row.seen.dateTime = fmt.iso(seenAt);
      row.seen.title = fmt.full(seenAt);
    }
  }

  /** Filters and sorts, then moves only the rows that are out of place. */
  #applyOrder() {
    const { sortKey, desc, state } = this.#view;
    const get = COLUMN[sortKey].get;
    const dir = desc ? -1 : 1;
    const nodes = [];
    for (const node of this.#model.nodes.values()) {
      if (state && node.state !== state) continue;
      if (!this.#predicate(node)) continue;
      nodes.push(node);
    }
    const keyed = nodes.map((n) => ({ n, k: get(n) }));
    keyed.sort((a, b) => {
      const ka = a.k;
      const kb = b.k;
      const missA = ka === undefined || ka === null || Number.isNaN(ka);
      const missB = kb === undefined || kb === null || Number.isNaN(kb);
      if (missA || missB) return missA === missB ? byName(a.n, b.n) : missA ? 1 : -1;
      const c = typeof ka === 'string' ? collator.compare(ka, kb) : ka - kb;
      return c !== 0 ? c * dir : byName(a.n, b.n);
    });
    const body = this.#body;
    let cursor = body.firstChild;
    for (const { n } of keyed) {
      const el = this.#rows.get(n.id)?.el;
      if (!el) continue;
      if (el === cursor) cursor = cursor.nextSibling;
      else body.insertBefore(el, cursor);
    }
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
    this.#shown = keyed.length;
    const total = this.#model.nodes.size;
    this.#els.table.setAttribute('aria-rowcount', String(keyed.length + 1));
    this.#root.dataset.rows = String(keyed.length);
    // The order on screen is this sort's (tests wait for it; the URL changes a frame earlier).
    this.#root.dataset.sort = `${desc ? '-' : ''}${sortKey}`;
    setText(this.#els.count, keyed.length === total ? `${total} nodes` : `showing ${keyed.length} of ${total}`);
    const empty = this.#els.empty;
    empty.hidden = keyed.length > 0 || !this.#model.loaded;
    if (!empty.hidden) {
      empty.textContent =
        total === 0
          ? 'No nodes yet. Join one with: picluster secondary --primary HOST:12345 --token-file ./token'
          : 'No node matches the filter.';
    }
  }

  #updateTotals() {
    const counts = { online: 0, lost: 0, left: 0 };
    let cpuSum = 0;
    let cpuN = 0;
    let ramUsed = 0;
    let ramTotal = 0;
    let hottest;
    let hottestName = '';
    let cores = 0;
    for (const node of this.#model.nodes.values()) {
      if (node.state in counts) counts[node.state]++;
      if (node.state !== 'online') continue;
      const v = node.vitals;
      cores += node.info?.cpuCores ?? 0;
      if (!v) continue;
      if (typeof v.cpuPercent === 'number') {
        cpuSum += v.cpuPercent;
        cpuN++;
      }
      const total = node.info?.ramTotalBytes;
      if (typeof total === 'number' && total > 0 && typeof v.ramAvailableBytes === 'number') {
        ramTotal += total;
        ramUsed += Math.max(0, total - v.ramAvailableBytes);
      }
      if (typeof v.tempC === 'number' && (hottest === undefined || v.tempC > hottest)) {
        hottest = v.tempC;
        hottestName = node.name;
      }
    }
    const { tiles } = this.#els;
    setText(tiles.nodes.value, String(this.#model.nodes.size));
    for (const s of STATES) setText(tiles[s].value, String(counts[s]));
    tiles.lost.tile.dataset.alert = counts.lost > 0 ? 'yes' : '';
    setText(tiles.cpu.value, cpuN ? fmt.percent(cpuSum / cpuN) : fmt.NONE);
    setText(tiles.cpu.sub, cpuN ? `${cpuN} reporting` : '');
    setText(tiles.ram.value, ramTotal ? fmt.percent((ramUsed / ramTotal) * 100) : fmt.NONE);
    setText(tiles.ram.sub, ramTotal ? `${fmt.bytes(ramUsed)} of ${fmt.bytes(ramTotal)}` : '');
    setText(tiles.temp.value, fmt.temp(hottest));
    setText(tiles.temp.sub, hottestName);
    setText(tiles.cores.value, String(cores));
    setText(tiles.cores.sub, 'online');
    for (const t of [tiles.online, tiles.lost, tiles.left]) {
      t.tile.setAttribute('aria-pressed', String(this.#view.state === t.state));
    }
  }

  #updateHeader() {
    const { sortKey, desc } = this.#view;
    for (const cell of this.#els.head.querySelectorAll('[role=columnheader]')) {
      const sorted = cell.dataset.key === sortKey;
      const value = sorted ? (desc ? 'descending' : 'ascending') : 'none';
      if (cell.getAttribute('aria-sort') !== value) {
        cell.setAttribute('aria-sort', value);
        setText(cell.querySelector('.arrow'), sorted ? (desc ? ' ↓' : ' ↑') : '');
      }
    }
  }

  /** Once a second: the "last seen" column (string compare first; most rows do not change). */
  #tick() {
    if (!this.#visible || this.#frame) return;
    const now = this.#model.now();
    for (const [id, row] of this.#rows) {
      const node = this.#model.nodes.get(id);
      if (node) this.#seen(row, node, now);
    }
    if (this.#view.sortKey === 'seen') {
      this.#reorder = true;
      this.#schedule();
    }
  }
}

/** The elements of one node row, empty (see #createRow and #updateRow for what goes where). */
function buildRowTemplate() {
  const cell = (key, ...children) =>
    h('div', { role: 'cell', class: `c-${key}`, dataset: { label: COLUMN[key].label } }, ...children);
  const meter = () => h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { class: 'fill' }));
  return h(
    'div',
    { role: 'row', class: 'row node' },
    h('div', { role: 'cell', class: 'c-name' }, h('a', { class: 'name-link' }), h('span', { class: 'labels' })),
    cell('state', h('span', { class: 'badge' })),
    cell('cpu', h('span', { class: 'num' }), meter()),
    cell('ram', h('span', { class: 'num' }), meter()),
    cell('temp', h('span', { class: 'num' }), h('span', { class: 'warn', hidden: true, text: '⚠' })),
    cell('load', h('span', { class: 'num' })),
    cell('uptime', h('span', { class: 'num' })),
    cell('seen', h('time')),
  );
}

function byName(a, b) {
  return collator.compare(a.name, b.name) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
