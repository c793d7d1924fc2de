// Leadership among primaries (issue 17): leader election through etcd with a local fence.
export * from './election-key.js';
export * from './etcd-client.js';
export * from './leader-election.js';
export * from './leadership-options.js';
export * from './lease-deadline.js';
