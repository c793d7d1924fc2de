// `picluster nodes approve|deny|revoke|forget ID` and `picluster token rotate`: the operator's acts,
// through the primary's API (the same login as `status` off loopback).

import type { NodeView } from '../primary/registry.js';
import { ApiCallError, callApi, printable } from './api-client.js';
import type { Config } from './config.js';

export type NodeAction = 'approve' | 'deny' | 'revoke' | 'forget';

const DONE: Record<Exclude<NodeAction, 'forget'>, string> = {
  approve: 'approved: it joins at its next attempt (within its retry delay)',
  deny: 'denied: its joins are refused from now on',
  revoke: 'revoked: its secret is void, its session closed, its joins refused from now on',
};

export async function runNodeAction(
  config: Config,
  action: NodeAction,
  id: string,
  options: { history: boolean },
): Promise<number> {
  const path = `/api/nodes/${encodeURIComponent(id)}/${action}${action === 'forget' && options.history ? '?history=true' : ''}`;
  try {
    if (action === 'forget') {
      await callApi(config, 'POST', path);
      process.stdout.write(
        `node ${printable(id)} forgotten${options.history ? ', with its history' : ' (its history is kept)'}\n`,
      );
    } else {
      const node = await callApi<NodeView>(config, 'POST', path);
      process.stdout.write(`node ${printable(node.id)} (${printable(node.name)}) ${DONE[action]}\n`);
    }
    return 0;
  } catch (err) {
    return failed(err);
  }
}

export async function runTokenRotate(config: Config): Promise<number> {
  try {
    const { tokenFile } = await callApi<{ tokenFile: string }>(config, 'POST', '/api/token/rotate');
    process.stdout.write(
      `the cluster token in ${printable(tokenFile)} was replaced: new nodes join with the new one (copy it to them); enrolled nodes are untouched\n`,
    );
    return 0;
  } catch (err) {
    return failed(err);
  }
}

function failed(err: unknown): number {
  if (!(err instanceof ApiCallError)) throw err;
  process.stderr.write(`picluster: ${err.message}\n`);
  return 1;
}
