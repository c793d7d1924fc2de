// The node page's four cards: its vitals now, its machine info, its disks and its network
// interfaces. They are redrawn from the node object on every change; the network card derives
// per-second rates from the last two samples it was shown, so it keeps that one sample.

import { h } from './dom.js';
import * as fmt from './format.js';

export class NodeCards {
  #root;
  #els = {};
  #prevSample;
  #rates = new Map(); // iface → {rx, tx} bytes/s

  constructor() {
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  render(node) {
    this.#renderNow(node);
    this.#renderMachine(node);
    this.#renderDisks(node);
    this.#renderNets(node);
  }

  #build() {
    const now = h('dl', { class: 'kv' });
    const machine = h('dl', { class: 'kv' });
    const disks = h('div', { class: 'table-wrap' });
    const nets = h('div', { class: 'table-wrap' });
    this.#els = { now, machine, disks, nets };
    return h(
      'div',
      { class: 'cards' },
      h('section', { class: 'card', 'aria-labelledby': 'now-title' }, h('h2', { id: 'now-title', text: 'Now' }), now),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'machine-title' },
        h('h2', { id: 'machine-title', text: 'Machine' }),
        machine,
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'disks-title' },
        h('h2', { id: 'disks-title', text: 'Disks' }),
        disks,
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'net-title' },
        h('h2', { id: 'net-title', text: 'Network' }),
        nets,
      ),
    );
  }

  #renderNow(node) {
    const v = node.vitals;
    const i = node.info;
    if (!v) {
      this.#els.now.replaceChildren(h('div', { class: 'muted', text: 'No vitals yet.' }));
      return;
    }
    const rows = [
      ['CPU', `${fmt.percent(v.cpuPercent)}${typeof v.cpuMhz === 'number' ? ` at ${fmt.mhz(v.cpuMhz)}` : ''}`],
      [
        'RAM',
        i?.ramTotalBytes
          ? `${fmt.percent(fmt.ramUsedPercent(node))} used · ${fmt.bytes(v.ramAvailableBytes)} available of ${fmt.bytes(i.ramTotalBytes)}`
          : `${fmt.bytes(v.ramAvailableBytes)} available`,
      ],
      ['Swap', i?.swapTotalBytes ? `${fmt.bytes(v.swapFreeBytes)} free of ${fmt.bytes(i.swapTotalBytes)}` : 'none'],
      ['Load', `${fmt.load(v.load1)} · ${fmt.load(v.load5)} · ${fmt.load(v.load15)}`],
      ['Temperature', fmt.temp(v.tempC)],
      ['Uptime', fmt.duration(v.uptimeS)],
    ];
    if (v.throttled) {
      const nowFlags = v.throttled.now?.join(', ') || 'no';
      const boot = v.throttled.sinceBoot?.join(', ') || 'none';
      rows.push(['Throttled', `now: ${nowFlags}; since boot: ${boot}`]);
    }
    rows.push(['Sample', `#${v.seq} · ${fmt.when(v.receivedAt ?? v.ts)}`]);
    if (typeof v.receivedAt === 'number' && Math.abs(v.ts - v.receivedAt) > 5000) {
      rows.push([
        'Clock skew',
        `node clock ${fmt.duration(Math.abs(v.ts - v.receivedAt) / 1000)} ${v.ts > v.receivedAt ? 'ahead' : 'behind'}`,
      ]);
    }
    if (v.dropped) rows.push(['Dropped', `${v.dropped} samples (outbox full)`]);
    // What watching this machine costs it: the agent's own process.
    if (typeof v.agentRssBytes === 'number') {
      const cpu = typeof v.agentCpuPercent === 'number' ? ` · ${fmt.percent(v.agentCpuPercent)} CPU` : '';
      rows.push(['Agent', `${fmt.bytes(v.agentRssBytes)} memory${cpu}`]);
    }
    this.#els.now.replaceChildren(...kv(rows));
  }

  #renderMachine(node) {
    const i = node.info;
    if (!i) {
      this.#els.machine.replaceChildren(h('div', { class: 'muted', text: 'No machine info yet.' }));
      return;
    }
    const mhzRange =
      typeof i.cpuMinMhz === 'number' && typeof i.cpuMaxMhz === 'number'
        ? ` · ${Math.round(i.cpuMinMhz)}–${Math.round(i.cpuMaxMhz)} MHz`
        : '';
    const rows = [
      ['Hostname', i.hostname],
      ['Board', i.board],
      ['OS', i.os],
      ['Kernel', i.kernel],
      ['CPU', `${i.cpuModel} · ${i.cpuCores} cores · ${i.arch}${mhzRange}`],
      ['RAM', fmt.bytes(i.ramTotalBytes)],
      ['Swap', fmt.bytes(i.swapTotalBytes)],
      ['picluster', i.version],
      ['Boot id', i.bootId],
    ].filter(([, value]) => value !== undefined && value !== null && value !== '');
    this.#els.machine.replaceChildren(...kv(rows));
  }

  #renderDisks(node) {
    const disks = node.vitals?.disks ?? [];
    if (disks.length === 0) {
      this.#els.disks.replaceChildren(h('p', { class: 'muted', text: 'No disks reported.' }));
      return;
    }
    const rows = disks.map((d) => {
      const used = d.totalBytes > 0 ? ((d.totalBytes - d.freeBytes) / d.totalBytes) * 100 : undefined;
      return h(
        'tr',
        null,
        h('th', { scope: 'row', text: d.mount }),
        h('td', { text: fmt.percent(used) }),
        h('td', { text: fmt.bytes(d.freeBytes) }),
        h('td', { text: fmt.bytes(d.totalBytes) }),
      );
    });
    this.#els.disks.replaceChildren(table(['Mount', 'Used', 'Free', 'Size'], rows));
  }

  #renderNets(node) {
    const v = node.vitals;
    const nets = v?.nets ?? [];
    // Rates from the last two samples this page saw.
    const prev = this.#prevSample;
    if (v && prev && v.seq > prev.seq && v.ts > prev.ts) {
      const dt = (v.ts - prev.ts) / 1000;
      for (const n of nets) {
        const p = prev.nets?.find((x) => x.iface === n.iface);
        if (p && n.rxBytes >= p.rxBytes && n.txBytes >= p.txBytes) {
          this.#rates.set(n.iface, { rx: (n.rxBytes - p.rxBytes) / dt, tx: (n.txBytes - p.txBytes) / dt });
        }
      }
    }
    if (v && (!prev || v.seq !== prev.seq)) this.#prevSample = v;
    if (nets.length === 0) {
      this.#els.nets.replaceChildren(h('p', { class: 'muted', text: 'No interfaces reported.' }));
      return;
    }
    const rows = nets.map((n) => {
      const rate = this.#rates.get(n.iface);
      const perS = (x) => (rate ? `${fmt.bytes(x)}/s` : fmt.NONE);
      return h(
        'tr',
        null,
        h('th', { scope: 'row', text: n.iface }),
        h('td', { text: perS(rate?.rx) }),
        h('td', { text: perS(rate?.tx) }),
        h('td', { text: fmt.bytes(n.rxBytes) }),
        h('td', { text: fmt.bytes(n.txBytes) }),
      );
    });
    this.#els.nets.replaceChildren(table(['Interface', 'In', 'Out', 'Received', 'Sent'], rows));
  }
}

function kv(rows) {
  return rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: String(v) })]);
}

function table(headers, rows) {
  return h(
    'table',
    null,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((t) => h('th', { scope: 'col', text: t })),
      ),
    ),
    h('tbody', null, rows),
  );
}
