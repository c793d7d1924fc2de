// The overview's totals: how many nodes there are and in each state (pending, denied and
// rebooting only when there are some), then CPU (average), RAM used, the hottest node and the CPU
// cores of the online nodes, and how many picluster versions the fleet runs (only when more than
// one: a half-done upgrade). The node and state tiles are buttons that pick the state filter
// (onState; the page decides what a second click does).

import { h, setText } from './dom.js';
import * as fmt from './format.js';
import { nodeVersion, STATES } from './overview-columns.js';
import { compareText } from './sort-nodes.js';

export class TotalsBar {
  #root;
  #tiles;
  #onState;

  /** `onState(state)`: a state tile was clicked (`''` for the Nodes tile: every state). */
  constructor({ onState }) {
    this.#onState = onState;
    this.#root = h('div', { class: 'totals', role: 'group', 'aria-label': 'Totals' });
    this.#tiles = {
      nodes: this.#tile('Nodes', 'nodes', ''),
      online: this.#tile('Online', 'online', 'online'),
      lost: this.#tile('Lost', 'lost', 'lost'),
      left: this.#tile('Left', 'left', 'left'),
      // Shown only when there are some: nodes waiting for the operator, or refused by them.
      pending: this.#tile('Pending', 'pending', 'pending'),
      denied: this.#tile('Denied', 'denied', 'denied'),
      // Taken down on purpose by a task (node.reboot), expected back.
      rebooting: this.#tile('Rebooting', 'rebooting', 'rebooting'),
      cpu: this.#tile('CPU (avg)', 'cpu'),
      ram: this.#tile('RAM used', 'ram'),
      temp: this.#tile('Hottest', 'temp'),
      cores: this.#tile('CPU cores', 'cores'),
      versions: this.#tile('Versions', 'versions'),
    };
    this.#tiles.versions.tile.hidden = true; // until update() finds two
  }

  get element() {
    return this.#root;
  }

  /** A tile: a plain box, or a button when it picks a state (`state` given). */
  #tile(label, key, state) {
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
              onclick: () => this.#onState(state),
            },
            content,
          );
    this.#root.append(tile);
    return { tile, value, sub, state };
  }

  /** Recounts from all the nodes; `selected` is the state filtered on (its tile shows pressed). */
  update(nodes, selected) {
    const counts = { online: 0, lost: 0, left: 0, pending: 0, denied: 0, rebooting: 0 };
    let cpuSum = 0;
    let cpuN = 0;
    let ramUsed = 0;
    let ramTotal = 0;
    let hottest;
    let hottestName = '';
    let cores = 0;
    const versions = new Map(); // version → how many nodes run it
    for (const node of nodes.values()) {
      if (node.state in counts) counts[node.state]++;
      // The members' versions: a node that left (or was refused) runs nothing the cluster uses,
      // and would otherwise say "2 versions" for good after an upgrade that replaced it.
      const version = node.state === 'left' || node.state === 'denied' ? undefined : nodeVersion(node);
      if (version !== undefined) versions.set(version, (versions.get(version) ?? 0) + 1);
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
    const tiles = this.#tiles;
    setText(tiles.nodes.value, String(nodes.size));
    for (const s of STATES) setText(tiles[s].value, String(counts[s]));
    tiles.lost.tile.dataset.alert = counts.lost > 0 ? 'yes' : '';
    tiles.pending.tile.dataset.alert = counts.pending > 0 ? 'yes' : '';
    for (const s of ['pending', 'denied', 'rebooting']) tiles[s].tile.hidden = counts[s] === 0 && selected !== s;
    setText(tiles.cpu.value, cpuN ? fmt.percent(cpuSum / cpuN) : fmt.NONE);
    setText(tiles.cpu.sub, cpuN ? `${cpuN} reporting` : '');
    setText(tiles.ram.value, ramTotal ? fmt.percent((ramUsed / ramTotal) * 100) : fmt.NONE);
    setText(tiles.ram.sub, ramTotal ? `${fmt.bytes(ramUsed)} of ${fmt.bytes(ramTotal)}` : '');
    setText(tiles.temp.value, fmt.temp(hottest));
    setText(tiles.temp.sub, hottestName);
    setText(tiles.cores.value, String(cores));
    setText(tiles.cores.sub, 'online');
    this.#showVersions(versions);
    for (const t of [tiles.online, tiles.lost, tiles.left, tiles.pending, tiles.denied, tiles.rebooting]) {
      t.tile.setAttribute('aria-pressed', String(selected === t.state));
    }
  }

  /** The Versions tile, shown only when the nodes disagree: how many, which, and on how many nodes. */
  #showVersions(versions) {
    const { tile, value, sub } = this.#tiles.versions;
    tile.hidden = versions.size < 2;
    if (tile.hidden) return;
    const sorted = [...versions].sort(([a], [b]) => compareText(a, b));
    setText(value, String(versions.size));
    setText(sub, sorted.map(([v]) => v).join(', '));
    const title = sorted.map(([v, n]) => `${v} on ${n} node${n === 1 ? '' : 's'}`).join(', ');
    if (tile.title !== title) tile.title = title;
  }
}
