// `query` from a native node: the primary, a page of the nodes, or one node (docs/design.md,
// "Wire details"). Other `what` values are answered ERR_BAD_REQUEST. A node asks about itself and
// the primary; the other nodes only if the `queries.fleet` selector takes it (ERR_FORBIDDEN
// else): one enrolled node must not hand an intruder the list of every id and address.

import type { RequestHandlerOf } from '../../connection/dispatch.js';
import { RequestError } from '../../protocol/errors.js';
import { selects } from '../../protocol/label-selector.js';
import type { NativeSession } from '../node-host.js';
import { toView } from '../registry.js';

/** Nodes in one answer to `query {what: "nodes"}` unless the asker gives a smaller `limit`. */
export const NODES_PAGE_LIMIT = 500;

/** Bytes of a reply frame around its nodes (type, ids, `next`). */
const REPLY_ENVELOPE_BYTES = 512;

export const answerQuery: RequestHandlerOf<'query', NativeSession> = ({ what, id, after, limit }, { host, record }) => {
  const { registry, primary } = host;
  const mayAskFleet = () => {
    if (!selects(host.fleetQueries, record.labels)) {
      throw new RequestError(
        'ERR_FORBIDDEN',
        `node ${record.id} may query only itself and the primary (the primary's queries.fleet selector grants more)`,
      );
    }
  };
  switch (what) {
    case 'primary':
      return { primaryId: primary.id, version: primary.version, nodes: registry.size };
    case 'nodes':
      mayAskFleet();
      // Paged: 10,000 nodes are megabytes of JSON, over any frame limit (see Secondary.listNodes).
      return registry.page(
        after,
        Math.min(limit ?? NODES_PAGE_LIMIT, NODES_PAGE_LIMIT),
        primary.maxFrameBytes - REPLY_ENVELOPE_BYTES,
      );
    case 'node': {
      if (id !== undefined && id !== record.id) mayAskFleet();
      const node = registry.get(id ?? record.id);
      if (!node) throw new RequestError('ERR_NOT_FOUND', `no node with id ${id}`);
      return toView(node);
    }
    default:
      throw new RequestError('ERR_BAD_REQUEST', `the primary does not answer query "${what}"`);
  }
};
