// Who leads an HA cluster (issue 17), in a line under the header: polled from /api/leadership every
// few seconds. Hidden on a single primary (leadership null) and quiet on the leader, which shows
// only its epoch in the header's title; a standby says where the leader is, and a cluster without
// an etcd quorum says plainly that nobody leads.

import { h } from './dom.js';

const POLL_MS = 5000;

/** Renders the leadership line into `element` (the banner) and keeps it current. */
export function watchLeadership(element) {
  async function poll() {
    try {
      const response = await fetch('/api/leadership', { cache: 'no-store' });
      if (response.ok) render(element, (await response.json()).leadership);
    } catch {
      // The connection banner speaks for an unreachable primary.
    }
  }
  poll();
  setInterval(poll, POLL_MS);
}

function render(element, ha) {
  if (!ha) {
    element.hidden = true;
    return;
  }
  const leader = ha.leader;
  document.body.dataset.leadership = ha.state;
  if (ha.state === 'leader') {
    element.hidden = true;
    document.title = `picluster — leader, epoch ${leader?.epoch ?? '?'}`;
    return;
  }
  element.dataset.kind = 'down';
  if (ha.state === 'no-quorum') {
    element.replaceChildren(
      h('strong', { text: 'No primary leads the cluster.' }),
      ` ${ha.self.name} cannot reach an etcd quorum: no primary serves the nodes until etcd is back.`,
    );
  } else if (leader) {
    element.replaceChildren(
      h('strong', { text: 'This primary is a standby.' }),
      ` The leader is ${leader.name} at ${leader.address} (epoch ${leader.epoch}, since ${new Date(leader.since).toLocaleString()}); open its dashboard to see the nodes.`,
    );
  } else {
    element.replaceChildren(h('strong', { text: 'This primary is a standby.' }), ' No leader is elected yet.');
  }
  element.hidden = false;
}
